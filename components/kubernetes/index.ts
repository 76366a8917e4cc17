export * from "./args";
export * from "./gate";
export * from "./platform";
