// pulumi-language-nodejs: a small Node.js language host for the Pulumi engine, for machines that cannot fetch
// Pulumi's own. The official host (module github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3)
// is not served by the module proxies this project may use, so flagday builds this one from the same
// pulumi/sdk/v3 protocol definitions the CLI is built from.
//
// It implements what `pulumi preview|up|destroy|refresh` and the Automation API need: Handshake, Run (which
// starts @pulumi/pulumi's own `cmd/run` entry point, exactly as the official host does, so the Node.js SDK
// behaves the same), RunPlugin for policy packs (the CLI starts a Node.js policy pack through its language
// host: @pulumi/pulumi's `cmd/run-policy-pack`, behind the SDK's PolicyProxy, as the official host does),
// GetPluginInfo, GetRequiredPackages/Plugins, About and GetProgramDependencies. Code generation, packing,
// other plugin kinds and `pulumi new` templates are left unimplemented: the engine reports them as such.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The Node.js SDK exits with this code after it has already shown the user an actionable message.
const nodeExitedAfterShowingMessage = 32

func main() {
	flag.String("tracing", "", "Zipkin-compatible tracing endpoint (accepted for compatibility, ignored)")
	flag.Bool("typescript", true, "accepted for compatibility; the project's runtime options decide")
	flag.String("root", "", "accepted for compatibility")
	flag.Parse()

	engineAddress := ""
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[len(args)-1]
	}
	host := &nodeHost{engineAddress: engineAddress}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start the language host's RPC server: %w", err))
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

type nodeHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	mu            sync.Mutex
	engineAddress string
}

func (h *nodeHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *nodeHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// Plugins are loaded on demand from PATH or the plugin cache when the program registers a resource, so nothing
// needs to be installed ahead of the run (and nothing could be downloaded here anyway).
func (h *nodeHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *nodeHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *nodeHost) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("could not find node on the PATH")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s --version: %w", node, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: node,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
	}, nil
}

func (h *nodeHost) GetProgramDependencies(
	_ context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetProgram()
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, fmt.Errorf("reading package.json: %w", err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, fmt.Errorf("parsing package.json: %w", err)
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for name, v := range pkg.Dependencies {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: name, Version: v})
	}
	return resp, nil
}

func (h *nodeHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("could not find node on the PATH: install Node.js 22 or newer")
	}
	info := req.GetInfo()
	programDir := info.GetProgramDirectory()
	if programDir == "" {
		programDir = req.GetPwd()
	}
	runPath, err := resolveModule(node, programDir, "@pulumi/pulumi/cmd/run")
	if err != nil {
		return &pulumirpc.RunResponse{
			Error: "the Pulumi Node.js SDK is not installed in " + programDir + ": run `npm ci` first",
		}, nil
	}

	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	args := []string{runPath}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	add("root-directory", info.GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	add("parallel", fmt.Sprint(req.GetParallel()))
	program := req.GetProgram()
	if info.GetProgramDirectory() != "" {
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	if program == "" {
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	// The SDK parses both variables unconditionally: an empty map or list must be `{}` / `[]`, never `null`.
	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, fmt.Errorf("serializing configuration: %w", err)
	}
	secretKeyList := req.GetConfigSecretKeys()
	if secretKeyList == nil {
		secretKeyList = []string{}
	}
	secretKeys, err := json.Marshal(secretKeyList)
	if err != nil {
		return nil, fmt.Errorf("serializing secret configuration keys: %w", err)
	}
	env := append(os.Environ(), "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	env = append(env, runtimeOptionEnv(info)...)

	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = req.GetPwd()
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Env = env
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == nodeExitedAfterShowingMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: "could not run the Node.js program: " + err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin starts a Node.js policy pack (kind "analyzer"): the CLI runs every plugin that has a PulumiPolicy.yaml
// through its runtime's language host. Like the official host, it runs `node @pulumi/pulumi/cmd/run-policy-pack
// <engine> <pack dir>` in the pack's folder, behind the SDK's PolicyProxy, which answers the engine's handshake
// and stack configuration and passes them to the pack as the PULUMI_NODEJS_* variables @pulumi/policy reads.
func (h *nodeHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	if req.GetKind() != "analyzer" {
		return status.Errorf(codes.Unimplemented,
			"flagday's Node.js language host only runs policy packs, not %q plugins", req.GetKind())
	}
	ctx := server.Context()
	node, err := exec.LookPath("node")
	if err != nil {
		return errors.New("could not find node on the PATH: install Node.js 22 or newer")
	}
	dir := req.GetInfo().GetProgramDirectory()
	runPath, err := resolveModule(node, dir, "@pulumi/pulumi/cmd/run-policy-pack")
	if err != nil {
		return fmt.Errorf("the Pulumi Node.js SDK is not installed for the policy pack in %s: run `npm ci` first", dir)
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	proxy, stdout, err := sdk.NewPolicyProxy(ctx, stdout)
	if err != nil {
		return fmt.Errorf("could not start the policy pack proxy: %w", err)
	}
	config, err := proxy.AwaitConfiguration(ctx)
	if err != nil {
		return fmt.Errorf("could not get the stack configuration for the policy pack: %w", err)
	}
	env := append([]string{}, req.GetEnv()...)
	if config != nil {
		add := func(k, v string) {
			if v != "" {
				env = append(env, k+"="+v)
			}
		}
		add("PULUMI_NODEJS_ORGANIZATION", config.GetOrganization())
		add("PULUMI_NODEJS_PROJECT", config.GetProject())
		add("PULUMI_NODEJS_STACK", config.GetStack())
		add("PULUMI_NODEJS_DRY_RUN", strconv.FormatBool(config.GetDryRun()))
		if config.GetConfig() != nil {
			b, err := json.Marshal(config.GetConfig())
			if err != nil {
				return fmt.Errorf("serializing the stack configuration: %w", err)
			}
			add("PULUMI_CONFIG", string(b))
		}
	}

	args := append([]string{runPath}, req.GetArgs()...)
	cmd := exec.CommandContext(ctx, node, append(args, dir)...)
	// Policy packs always ran in their own folder (the old pulumi-analyzer-policy launcher did the same).
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not start the policy pack: %w", err)
	}
	if err := proxy.Attach(ctx, cmd); err != nil {
		return fmt.Errorf("could not attach to the policy pack: %w", err)
	}
	return closer.Close()
}

// runtimeOptionEnv maps Pulumi.yaml's `runtime.options` to the variables the Node.js SDK reads.
func runtimeOptionEnv(info *pulumirpc.ProgramInfo) []string {
	typescript := true
	var env []string
	if opts := info.GetOptions(); opts != nil {
		fields := opts.GetFields()
		if v, ok := fields["typescript"]; ok {
			typescript = v.GetBoolValue()
		}
		if v, ok := fields["tsconfig"]; ok && v.GetStringValue() != "" {
			path := v.GetStringValue()
			if !filepath.IsAbs(path) {
				path = filepath.Join(info.GetRootDirectory(), path)
			}
			env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+path)
		}
	}
	return append(env, fmt.Sprintf("PULUMI_NODEJS_TYPESCRIPT=%t", typescript))
}

func resolveModule(node, dir, module string) (string, error) {
	cmd := exec.Command(node, "-e", fmt.Sprintf("console.log(require.resolve(%q))", module))
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
