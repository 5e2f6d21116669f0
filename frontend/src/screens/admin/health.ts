// The Health page's figures in words: shares as percentages, the error budget left, latencies.
import type { Schemas } from "../../api/client";

export type ServiceIndicator = Schemas["ServiceIndicator"];

/** A share (0–1) as a percentage with enough digits to tell 99.9 % from 100 %. */
export function percent(share: number): string {
  const value = share * 100;
  if (value === 100 || value === 0) return `${value} %`;
  // 99.95 % must not round to 100 %: as many decimals as it takes, at most three.
  for (const digits of [1, 2, 3]) {
    const text = value.toFixed(digits);
    if (Number(text) !== 100 && Number(text) !== 0) return `${text} %`;
  }
  return `${value.toFixed(3)} %`;
}

export function valueText(i: ServiceIndicator): string {
  return i.value === null || i.value === undefined ? "no data" : percent(i.value);
}

/** The error budget left over the window: a spent budget says so rather than going negative. */
export function budgetText(i: ServiceIndicator): string {
  const left = i.budget_remaining;
  if (left === null || left === undefined) return "—";
  if (left <= 0) return "spent";
  return `${percent(Math.min(left, 1))} left`;
}

export function seconds(s: number): string {
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  return `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

/** "p95 310 ms", "p99 no data", or "" for an SLI without a named percentile. */
export function percentileText(i: ServiceIndicator): string {
  const p = i.percentile;
  if (!p) return "";
  const name = `p${Math.round(p.quantile * 100)}`;
  return p.seconds === null || p.seconds === undefined ? `${name} no data` : `${name} ${seconds(p.seconds)}`;
}

export function statusWord(i: ServiceIndicator): string {
  return i.status === "met" ? "Met" : i.status === "missed" ? "Missed" : "No data";
}
