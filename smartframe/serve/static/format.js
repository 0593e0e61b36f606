// Numbers and names as the page shows them.

const BINARY_UNITS = ["KiB", "MiB", "GiB", "TiB"];

/**
 * A byte count in binary units, named as such: 10485760 -> "10.0 MiB" (1 MiB = 1024 x 1024
 * bytes; the same count is 10.5 MB in decimal units). KiB show one decimal below 10, the
 * larger units always one.
 */
export function formatBytes(n) {
  // A no-break space: a number never wraps away from its unit.
  if (n < 1024) return `${n}\u00a0B`;
  let value = n;
  let unit = -1;
  const text = () => value.toFixed(unit === 0 && value >= 10 ? 0 : 1);
  while (unit < BINARY_UNITS.length - 1 && (unit < 0 || parseFloat(text()) >= 1024)) {
    value /= 1024;  // and 1023.96 KiB, which would print as "1024 KiB", becomes "1.0 MiB"
    unit += 1;
  }
  return `${text()}\u00a0${BINARY_UNITS[unit]}`;
}

/** A file name's stem, safe to build a download name from. */
export function stem(name) {
  return ((name || "image").replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9._-]+/g, "_") || "image").slice(0, 64);
}

/** "cover, smart: <the plan's reason> (confidence 0.83)": the reason exactly as reported. */
export function reasonText(plan) {
  const how = plan.strategy ? `${plan.fit}, ${plan.strategy}` : plan.fit;
  const confidence = plan.confidence === null || plan.confidence === undefined ? "" :
    ` (confidence ${plan.confidence.toFixed(2)})`;
  return `${how}: ${plan.reason}${confidence}`;
}
