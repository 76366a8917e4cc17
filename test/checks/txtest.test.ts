// Which transaction checks run at the same time (checks/txtest.ts txTestChains): a pure plan.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TX_CHECK_ACCOUNTS, TX_CHECKS, txTestChains } from "../../checks/txtest";

const none = new Map<string, string>();

describe("txTestChains", () => {
  test("the four built-in checks: the two that touch alice in order, the others each at once", () => {
    assert.deepEqual(txTestChains(TX_CHECKS, none), [
      ["self-payment", "non-fog"],
      ["cross-payment"],
      ["fog"],
    ]);
  });

  test("no two chains share an account, and every check runs once, in the given order within its chain", () => {
    const orders = [
      [...TX_CHECKS],
      [...TX_CHECKS].reverse(),
      ["non-fog", "fog", "self-payment", "cross-payment"],
    ];
    for (const names of orders) {
      const chains = txTestChains(names, none);
      assert.deepEqual(chains.flat().sort(), [...names].sort());
      for (const chain of chains)
        assert.deepEqual(
          chain,
          names.filter((n) => chain.includes(n)),
          `order kept in ${chain}`,
        );
      const accounts = chains.map(
        (c) => new Set(c.flatMap((n) => TX_CHECK_ACCOUNTS[n as (typeof TX_CHECKS)[number]])),
      );
      for (let i = 0; i < accounts.length; i++)
        for (let j = i + 1; j < accounts.length; j++)
          assert.deepEqual(
            [...accounts[i]].filter((a) => accounts[j].has(a)),
            [],
            `${chains[i]} / ${chains[j]}`,
          );
    }
  });

  test("a check that touches two chains' accounts merges them, keeping the order", () => {
    const accounts: Record<string, string[]> = { a: ["x"], b: ["y"], c: ["z"], a2: ["x"], ab: ["y", "x"] };
    assert.deepEqual(
      txTestChains(["a", "b", "c", "a2", "ab"], none, (n) => accounts[n]),
      [["a", "b", "a2", "ab"], ["c"]],
    );
  });

  test("--command checks run one after another in a chain of their own, a built-in name included", () => {
    const commands = new Map([
      ["fog", "fog-test-client"],
      ["mobilecoind", "test_client.py"],
    ]);
    assert.deepEqual(txTestChains(["self-payment", "fog", "mobilecoind", "cross-payment"], commands), [
      ["self-payment"],
      ["cross-payment"],
      ["fog", "mobilecoind"],
    ]);
  });
});
