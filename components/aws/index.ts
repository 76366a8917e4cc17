export * from "./args";
export * from "./commands";
export * from "./platform";
export * from "./userData";
