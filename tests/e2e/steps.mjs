// A click path as node:test tests: steps run in order on one page; when one fails, `save(name)`
// keeps evidence of it (a screenshot; returns its path, or null) before anything is closed, and
// the later steps are skipped rather than failing for the same reason.
import { test } from "node:test";

/**
 * @param {{save: (name: string) => Promise<string|null>, label: string, saveEveryStep?: boolean}} opts
 * @returns {(name: string, fn: () => Promise<void>) => void}
 */
export function clickPath({ save, label, saveEveryStep = false }) {
  let broken = null;
  return (name, fn) =>
    test(name, async (t) => {
      if (broken) return t.skip(`an earlier step failed: ${broken}`);
      try {
        await fn();
        if (saveEveryStep) await save(`ok-${name}`);
      } catch (err) {
        broken = name;
        const shot = await save(`failed-${name}`).catch((e) => {
          console.error(`[${label}] could not save a screenshot: ${e.message}`);
          return null;
        });
        if (shot) {
          console.error(`\n[${label}] step "${name}" failed; screenshot: ${shot}`);
          t.diagnostic(`screenshot: ${shot}`);
        }
        throw err;
      }
    });
}

/** A file name for a step's artifact. */
export const artifactName = (prefix, name) =>
  `${prefix}-${name
    .replace(/[^a-z0-9]+/gi, "-")
    .replace(/^-|-$/g, "")
    .toLowerCase()}`;
