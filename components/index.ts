export * from "./release";
export * from "./network";
export * from "./stages";
export * from "./plan";
export * from "./platform";
export * from "./checks";
export * from "./orchestrate";
export * from "./consensusNetwork";
