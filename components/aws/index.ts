export * from "./args";
export * from "./scripts";
export * from "./platform";
export * from "./userData";
