import { test } from "node:test";
test("prices", () => {});
test("rounds", () => {});
