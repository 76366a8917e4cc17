export * from "./args";
export * from "./platform";
export * from "./userData";
