import { screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Schemas } from "../../api/client";
import { apiError, json, renderAt, signedInAs, stubApi, user } from "../sessions/testing";
import { Admin } from "./Admin";
import { budgetText, percent, percentileText } from "./health";

afterEach(() => vi.unstubAllGlobals());

type Indicator = Schemas["ServiceIndicator"];

const indicator = (over: Partial<Indicator> = {}): Indicator => ({
  name: "join_success",
  title: "Joins answered without a server error",
  objective: 0.999,
  good: 0,
  valid: 0,
  value: null,
  budget_remaining: null,
  status: "no_data",
  threshold_seconds: null,
  percentile: null,
  ...over,
});

const health = (indicators: Indicator[]): Schemas["ServiceHealth"] => ({
  window_seconds: 300,
  indicators,
  load: {
    publishers: 2,
    subscribers: 7,
    tracks: 3,
    websocket_clients: 9,
    log_head: 120,
    projections_position: 118,
    projections_lag: 2,
    recording_upload_backlog: 0,
  },
});

describe("Health page", () => {
  it("shows each SLI against its objective, a missed one and one without data, and the load", async () => {
    signedInAs(user("admin"));
    const sent = stubApi((r) =>
      r.path === "/v1/admin/health"
        ? json(
            health([
              indicator(),
              indicator({
                name: "ws_push_latency",
                title: "WebSocket push within 200 ms of the append",
                objective: 0.99,
                good: 95,
                valid: 100,
                value: 0.95,
                budget_remaining: -4,
                status: "missed",
                threshold_seconds: 0.2,
                percentile: { quantile: 0.99, seconds: 0.31 },
              }),
            ]),
          )
        : undefined,
    );
    renderAt(<Admin page="health" />, "/admin/health");
    const table = await screen.findByRole("table", { name: "Service level indicators" });
    const push = within(table).getByTestId("sli-ws_push_latency");
    expect(push).toHaveTextContent("95.0 %");
    expect(push).toHaveTextContent("99.0 %");
    expect(push).toHaveTextContent("spent");
    expect(push).toHaveTextContent("p99 310 ms");
    expect(push).toHaveTextContent("Missed");
    const joins = within(table).getByTestId("sli-join_success");
    expect(joins).toHaveTextContent("no data");
    expect(joins).toHaveTextContent("No data");
    expect(screen.getByTestId("health-lag")).toHaveTextContent("2 events");
    expect(screen.getByRole("link", { name: "Health" })).toHaveAttribute("aria-current", "page");
    expect(sent.some((r) => r.path === "/v1/admin/health")).toBe(true);
  });

  it("says what went wrong when the server refuses", async () => {
    signedInAs(user("admin"));
    stubApi((r) =>
      r.path === "/v1/admin/health"
        ? apiError(403, "forbidden", "only admins may read the service's health")
        : undefined,
    );
    renderAt(<Admin page="health" />, "/admin/health");
    expect(await screen.findByRole("alert")).toHaveTextContent("only admins");
  });
});

describe("Health figures", () => {
  it("never rounds a missed objective up to 100 %", () => {
    expect(percent(0.9995)).toBe("99.95 %");
    expect(percent(0.99999)).toBe("99.999 %");
    expect(percent(1)).toBe("100 %");
    expect(percent(0.95)).toBe("95.0 %");
  });

  it("words the budget and the percentile", () => {
    expect(budgetText(indicator({ budget_remaining: 0.5 }))).toBe("50.0 % left");
    expect(budgetText(indicator({ budget_remaining: 0 }))).toBe("spent");
    expect(budgetText(indicator())).toBe("—");
    expect(percentileText(indicator({ percentile: { quantile: 0.95, seconds: 1.5 } }))).toBe("p95 1.50 s");
    expect(percentileText(indicator({ percentile: { quantile: 0.95, seconds: null } }))).toBe("p95 no data");
    expect(percentileText(indicator())).toBe("");
  });
});
