import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { archiveOf, SESSION } from "../archives/fixtures";
import { json } from "../../test/http";
import { ReplayPicture } from "./ReplayPicture";
import type { ScrubPoint } from "./trail";

const at = (iso: string): ScrubPoint => ({ ms: Date.parse(iso), at: iso });

// endoscope: 08:00:00-08:00:10 and 08:05:00-08:05:30; room-cam (still processing) from 08:00:02.
const archives = [
  archiveOf({ id: "e1" }),
  archiveOf({ id: "e2", started_at: "2026-12-03T08:05:00.000Z", ended_at: "2026-12-03T08:05:30.000Z", duration_ms: 30_000 }),
  archiveOf({ id: "c1", source: "room-cam", status: "processing", progress: 0.5, started_at: "2026-12-03T08:00:02.000Z", ended_at: "2026-12-03T08:00:12.000Z" }),
];

let requests: string[] = [];
let pause: ReturnType<typeof vi.fn<() => void>>;

function serve(items = archives) {
  requests = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const url = new URL(req.url);
      requests.push(url.pathname);
      if (url.pathname === `/v1/sessions/${SESSION}/archives`) return json({ items, next_cursor: null });
      const id = url.pathname.match(/^\/v1\/archives\/(.+)\/playback$/)?.[1];
      if (id) return json({ url: `http://media.test/${id}.mp4`, content_type: "video/mp4", expires_at: "2099-01-01T00:00:00Z" });
      return json({ error: { code: "not_found", message: "no", request_id: "r" } }, 404);
    }),
  );
}

const playbacks = () => requests.filter((p) => p.endsWith("/playback"));
const video = () => screen.getByLabelText("Archive player") as HTMLVideoElement;

beforeEach(() => {
  vi.spyOn(HTMLMediaElement.prototype, "canPlayType").mockReturnValue("maybe");
  pause = vi.fn<() => void>();
  vi.spyOn(HTMLMediaElement.prototype, "pause").mockImplementation(pause);
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("ReplayPicture", () => {
  it("opens nothing until a source is picked (opening is audited)", async () => {
    serve();
    render(<ReplayPicture sessionId={SESSION} point={at("2026-12-03T08:00:04.250Z")} />);
    const select = await screen.findByRole("combobox", { name: "Recorded source" });
    expect([...select.querySelectorAll("option")].map((o) => o.textContent)).toEqual(["Choose a source", "endoscope", "room-cam"]);
    expect(playbacks()).toEqual([]);
    expect(screen.queryByLabelText("Archive player")).toBeNull();
  });

  it("stands at the scrubbed time minus the archive's start, and follows the scrubber", async () => {
    serve();
    const { rerender } = render(<ReplayPicture sessionId={SESSION} point={at("2026-12-03T08:00:04.250Z")} />);
    await userEvent.selectOptions(await screen.findByRole("combobox", { name: "Recorded source" }), "endoscope");
    await waitFor(() => expect(video()).toHaveAttribute("src", "http://media.test/e1.mp4"));
    expect(screen.getByTestId("picture-offset")).toHaveTextContent("0:04 into the recording of endoscope");
    fireEvent.loadedMetadata(video());
    expect(video().currentTime).toBe(4.25);

    // Scrubbing within the same archive seeks the open player: no new link.
    Object.defineProperty(video(), "readyState", { value: 1, configurable: true });
    rerender(<ReplayPicture sessionId={SESSION} point={at("2026-12-03T08:00:09.000Z")} />);
    expect(video().currentTime).toBe(9);
    expect(playbacks()).toEqual(["/v1/archives/e1/playback"]);

    // Between two recordings: said plainly, the player paused and hidden.
    rerender(<ReplayPicture sessionId={SESSION} point={at("2026-12-03T08:02:00.000Z")} />);
    expect(screen.getByRole("status")).toHaveTextContent("endoscope: not recorded at this moment.");
    expect(screen.getByRole("list", { name: "When endoscope was recorded" }).children).toHaveLength(2);
    expect(video()).not.toBeVisible();
    expect(pause).toHaveBeenCalled();

    // Into the second recording: its own (fresh) link, 10 s in.
    rerender(<ReplayPicture sessionId={SESSION} point={at("2026-12-03T08:05:10.000Z")} />);
    await waitFor(() => expect(video()).toHaveAttribute("src", "http://media.test/e2.mp4"));
    expect(video()).toBeVisible();
    expect(screen.getByTestId("picture-offset")).toHaveTextContent("0:10 into the recording of endoscope");
    fireEvent.loadedMetadata(video());
    expect(video().currentTime).toBe(10);
    expect(playbacks()).toEqual(["/v1/archives/e1/playback", "/v1/archives/e2/playback"]);
  });

  it("says so when the source was recorded then but cannot be shown yet", async () => {
    serve();
    render(<ReplayPicture sessionId={SESSION} point={at("2026-12-03T08:00:05.000Z")} />);
    await userEvent.selectOptions(await screen.findByRole("combobox", { name: "Recorded source" }), "room-cam");
    expect(screen.getByRole("status")).toHaveTextContent("room-cam was being recorded at this moment, but that recording is processing");
    expect(playbacks()).toEqual([]);
  });

  it("says when the session has no recordings", async () => {
    serve([]);
    render(<ReplayPicture sessionId={SESSION} point={at("2026-12-03T08:00:05.000Z")} />);
    expect(await screen.findByText("This session has no recordings.")).toBeInTheDocument();
  });
});
