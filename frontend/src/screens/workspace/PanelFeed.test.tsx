import { act, fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { foldFeedHealth, withServerStalls, type FeedHealth } from "./feedHealth";
import { PanelFeed } from "./PanelFeed";

const stream = { id: "s1", getTracks: () => [] } as unknown as MediaStream;
const none: FeedHealth = new Map();

function feed(props: Partial<Parameters<typeof PanelFeed>[0]> = {}) {
  return (
    <PanelFeed
      panelId="p1"
      source="endoscope"
      stream={null}
      sessionStatus="live"
      published={true}
      health={none}
      framesDecoded={async () => null}
      {...props}
    />
  );
}

/** Health after these events, each `[type, data]`. */
function after(...events: [string, Record<string, unknown>][]): FeedHealth {
  return events.reduce<FeedHealth>((h, [type, data]) => foldFeedHealth(h, type, data, Date.now()), new Map());
}

async function seconds(n: number) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(n * 1000);
  });
}

beforeEach(() => {
  vi.useFakeTimers({ shouldAdvanceTime: false });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("PanelFeed waiting text", () => {
  it("says the session has not started", () => {
    render(feed({ sessionStatus: "scheduled" }));
    expect(screen.getByTestId("panel-placeholder-p1")).toHaveTextContent("The session has not started yet");
  });

  it("says the source is not published yet", () => {
    render(feed({ published: false }));
    expect(screen.getByTestId("panel-placeholder-p1")).toHaveTextContent("endoscope is not published yet");
  });

  it("says the source stopped publishing once its publisher disconnected", () => {
    const health = after(["PublisherConnected", { source: "endoscope" }], ["PublisherDisconnected", { source: "endoscope", reason: "deleted" }]);
    render(feed({ published: false, health }));
    expect(screen.getByTestId("panel-placeholder-p1")).toHaveTextContent("endoscope stopped publishing");
  });

  it("says the session has ended, even over a stream still attached", () => {
    render(feed({ sessionStatus: "ended", stream }));
    expect(screen.getByTestId("panel-placeholder-p1")).toHaveTextContent("The session has ended");
    expect(screen.getByTestId("feed-p1")).toHaveAttribute("data-feed-state", "ended");
  });

  it("waits for a published source's first picture", () => {
    render(feed());
    expect(screen.getByTestId("panel-placeholder-p1")).toHaveTextContent("Waiting for endoscope…");
  });
});

describe("PanelFeed no signal", () => {
  it("says no signal for N s once framesDecoded stops advancing, counting up, and clears when it moves", async () => {
    let frames = 0;
    let moving = true;
    const framesDecoded = vi.fn(async () => {
      if (moving) frames += 25;
      return frames;
    });
    render(feed({ stream, framesDecoded }));
    await seconds(3);
    expect(screen.queryByTestId("no-signal-p1")).toBeNull();

    moving = false;
    await seconds(1);
    expect(screen.queryByTestId("no-signal-p1")).toBeNull();
    await seconds(1);
    expect(screen.getByTestId("no-signal-p1")).toHaveTextContent("no signal for 2 s");
    expect(screen.getByRole("status")).toHaveTextContent("no signal for 2 s");
    await seconds(1);
    expect(screen.getByTestId("no-signal-p1")).toHaveTextContent("no signal for 3 s");
    expect(screen.getByTestId("feed-p1")).toHaveAttribute("data-feed-state", "no-signal");

    moving = true;
    await seconds(1);
    expect(screen.queryByTestId("no-signal-p1")).toBeNull();
  });

  it("says nothing of a source that never showed a frame", async () => {
    render(feed({ stream, framesDecoded: async () => 0 }));
    await seconds(5);
    expect(screen.queryByTestId("no-signal-p1")).toBeNull();
  });

  it("says no signal when the server says the source stalled, until it resumes", async () => {
    const stalled = after(["SourceStalled", { source: "endoscope" }]);
    const { rerender } = render(feed({ stream, health: stalled }));
    await seconds(0);
    expect(screen.getByTestId("no-signal-p1")).toHaveTextContent("no signal for 0 s");
    await seconds(2);
    expect(screen.getByTestId("no-signal-p1")).toHaveTextContent("no signal for 2 s");
    rerender(feed({ stream, health: foldFeedHealth(stalled, "SourceResumed", { source: "endoscope", stalled_ms: 3000 }, Date.now()) }));
    expect(screen.queryByTestId("no-signal-p1")).toBeNull();
  });

  it("says no signal for a source that stalled before the workspace opened, from the server's media list", async () => {
    // No SourceStalled reached this workspace: GET .../media said it stalled 7 s ago.
    const health = withServerStalls(none, { endoscope: Date.now() - 7000 });
    render(feed({ stream, health }));
    await seconds(0);
    expect(screen.getByTestId("no-signal-p1")).toHaveTextContent("no signal for 7 s");
  });

  it("lets a resumption heard since outrank the server's earlier answer", async () => {
    const resumed = after(["SourceResumed", { source: "endoscope", stalled_ms: 3000 }]);
    render(feed({ stream, health: withServerStalls(resumed, { endoscope: Date.now() - 7000 }) }));
    await seconds(0);
    expect(screen.queryByTestId("no-signal-p1")).toBeNull();
  });
});

describe("PanelFeed quality", () => {
  const sampled = after([
    "MediaQualitySampled",
    { source: "endoscope", kind: "video", bitrate_bps: 2_500_000, packets: 990, packets_lost: 10, jitter_us: 1800, rtt_ms: 12 },
  ]);

  it("shows the latest video quality with an accessible name, details on focus and on hover", async () => {
    vi.useRealTimers();
    render(feed({ health: sampled, stream }));
    const mark = screen.getByRole("button", { name: "Picture quality of endoscope: fair, 2.5 Mb/s, loss 1.0 %, round trip 12 ms" });
    expect(mark).toHaveTextContent("2.5 Mb/s");
    expect(screen.queryByRole("tooltip")).toBeNull();
    await userEvent.tab();
    expect(mark).toHaveFocus();
    const tip = screen.getByRole("tooltip");
    expect(tip).toHaveTextContent("Bitrate 2.5 Mb/s");
    expect(tip).toHaveTextContent("Loss 1.0 %");
    expect(tip).toHaveTextContent("Round trip 12 ms");
    expect(mark).toHaveAttribute("aria-describedby", tip.id);
    fireEvent.blur(mark);
    expect(screen.queryByRole("tooltip")).toBeNull();
    fireEvent.mouseEnter(mark.parentElement!);
    expect(screen.getByRole("tooltip")).toHaveTextContent("Round trip 12 ms");
  });

  it("ignores audio samples and shows none before the first video sample", () => {
    const audio = after(["MediaQualitySampled", { source: "endoscope", kind: "audio", bitrate_bps: 32_000, packets: 50, packets_lost: 0 }]);
    render(feed({ health: audio, stream }));
    expect(screen.queryByTestId("quality-p1")).toBeNull();
  });
});
