import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Archive, ArchivePage } from "../../api/archives";
import type { Member, Session } from "../../api/client";
import { SessionDetail } from "../sessions/SessionDetail";
import { apiError, directory, ids, json, renderAt, sessionOf, signedInAs, stubApi, user, type Sent } from "../sessions/testing";
import { archiveOf } from "./fixtures";
import { ARCHIVE_REFRESH_MS } from "./useArchives";

const path = `/sessions/${ids.session}`;
const api = `/v1/sessions/${ids.session}`;
const host: Member = { user_id: ids.surgeon, role: "host", added_at: "2026-12-01T08:00:00Z" };
const observer: Member = { user_id: ids.observer, role: "observer", added_at: "2026-12-01T08:00:00Z" };

interface Server {
  session?: Partial<Session>;
  members?: Member[];
  /** The archives answer of each list call in turn (the last one repeats). */
  pages?: (query: URLSearchParams) => ArchivePage;
  playback?: (n: number) => Response;
  refuse?: (r: Sent) => Response | undefined;
}

function fakeServer(opts: Server = {}) {
  let session: Session = sessionOf({ status: "live", ...opts.session });
  let playbacks = 0;
  const sent = stubApi((r) => {
    const refused = opts.refuse?.(r);
    if (refused) return refused;
    if (r.path === "/v1/users/directory") return json({ items: directory, next_cursor: null });
    if (r.method === "GET" && r.path === api) return json(session);
    if (r.method === "GET" && r.path === `${api}/members`) return json({ items: opts.members ?? [host] });
    if (r.method === "GET" && r.path === `${api}/archives`) return json(opts.pages?.(r.query) ?? { items: [], next_cursor: null });
    const playback = r.path.match(/^\/v1\/archives\/([^/]+)\/playback$/);
    if (r.method === "GET" && playback) {
      playbacks++;
      return (
        opts.playback?.(playbacks) ??
        json({ url: `http://media.test/${playback[1]}.mp4?token=t${playbacks}`, content_type: "video/mp4", expires_at: "2099-01-01T00:00:00Z" })
      );
    }
    if (r.method === "POST" && r.path === `${api}/recordings:start`) {
      session = { ...session, recording: "recording", recording_id: "rec-1" };
      return json({ recording_id: "rec-1", position: 42 });
    }
    const one = r.path.match(/^\/v1\/archives\/([^/]+)$/);
    if (r.method === "PATCH" && one) return json(archiveOf({ id: one[1], ...(r.body as Partial<Archive>) }));
    return undefined;
  });
  const of = (method: string, p: string) => sent.filter((r) => r.method === method && r.path === p);
  return { sent, of };
}

const list = () => screen.findByRole("list", { name: "Archives" });
const item = (name: string) => screen.getByRole("listitem", { name });

beforeEach(() => {
  vi.spyOn(HTMLMediaElement.prototype, "canPlayType").mockReturnValue("maybe");
  vi.spyOn(HTMLMediaElement.prototype, "pause").mockImplementation(() => {});
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("Session page: recording", () => {
  it("shows a live session's recording to every member, and the button only to hosts and surgeons", async () => {
    signedInAs(user("observer"));
    fakeServer({ session: { recording: "recording", recording_id: "rec-1" }, members: [host, observer] });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    expect(await screen.findByRole("status", { name: "Recording" })).toHaveTextContent("Recording");
    expect(screen.queryByRole("button", { name: /recording/i })).toBeNull();
  });

  it("lets the host start recording, then shows the indicator from the re-read session", async () => {
    signedInAs(user("surgeon"));
    const { of } = fakeServer();
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Start recording" }));
    expect(await screen.findByRole("status", { name: "Recording" })).toBeInTheDocument();
    expect(of("POST", `${api}/recordings:start`)).toHaveLength(1);
    expect(of("GET", api).at(-1)?.query.get("min_position")).toBe("42");
    expect(screen.getByRole("button", { name: "Stop recording" })).toBeInTheDocument();
  });

  it("shows the server's refusal as a toast", async () => {
    signedInAs(user("surgeon"));
    fakeServer({ refuse: (r) => (r.method === "POST" ? apiError(409, "invalid_transition", "the session is not live") : undefined) });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Start recording" }));
    expect(await screen.findByText("Recording not started: the session is not live (request req-1)")).toBeInTheDocument();
    expect(screen.queryByRole("status", { name: "Recording" })).toBeNull();
  });
});

describe("Session page: archives", () => {
  it("lists each archive's source, status, duration, size, expiry and legal hold", async () => {
    signedInAs(user("surgeon"));
    const items = [
      archiveOf({ id: "a1", legal_hold: true }),
      archiveOf({ id: "a2", source: "room-cam", status: "processing", progress: 0.42, bytes: 1_500_000, duration_ms: null }),
      archiveOf({ id: "a3", source: "vitals", status: "processing", progress: null }),
      archiveOf({ id: "a4", source: "ceiling", status: "failed" }),
    ];
    fakeServer({ session: { status: "ended" }, pages: () => ({ items, next_cursor: null }) });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    expect(within(await list()).getAllByRole("listitem")).toHaveLength(4);

    const ready = item("endoscope");
    expect(within(ready).getByTestId("archive-status")).toHaveTextContent("Ready");
    expect(within(ready).getByTestId("archive-duration")).toHaveTextContent("0:10");
    expect(within(ready).getByTestId("archive-size")).toHaveTextContent("2.4 MB");
    expect(within(ready).getByTestId("archive-expiry")).toHaveTextContent("2027");
    expect(within(ready).getByText("Legal hold")).toBeInTheDocument();
    expect(within(ready).getByRole("button", { name: "Play endoscope" })).toBeInTheDocument();

    const processing = item("room-cam");
    expect(within(processing).getByTestId("archive-status")).toHaveTextContent("Processing");
    expect(within(processing).getByRole("progressbar", { name: "Processing room-cam" })).toHaveAttribute("value", "42");
    expect(within(processing).getByTestId("archive-progress")).toHaveTextContent("42%");
    expect(within(processing).queryByRole("button", { name: /Play/ })).toBeNull();
    expect(within(processing).getByText("Playable when processing is done.")).toBeInTheDocument();

    expect(within(item("vitals")).getByTestId("archive-progress")).toHaveTextContent("Processing…");
    expect(within(item("vitals")).getByRole("progressbar")).not.toHaveAttribute("value");
    expect(within(item("ceiling")).getByText("Nothing playable could be made of this recording.")).toBeInTheDocument();
    // Only admins edit retention.
    expect(screen.queryByRole("button", { name: /Edit retention/ })).toBeNull();
  });

  it("says when there is nothing yet", async () => {
    signedInAs(user("surgeon"));
    fakeServer({ session: { status: "ended" } });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    expect(await screen.findByText("No recordings of this session yet.")).toBeInTheDocument();
  });

  it("says when the list cannot be read", async () => {
    signedInAs(user("surgeon"));
    fakeServer({ session: { status: "ended" }, refuse: (r) => (r.path.endsWith("/archives") ? apiError(500, "internal_error", "database down") : undefined) });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the archives: database down");
    expect(screen.queryByText("No recordings of this session yet.")).toBeNull();
  });

  it("refreshes every few seconds while something is processing, and stops once all are done", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    signedInAs(user("surgeon"));
    const answers = [0.2, 0.7, null].map((p) =>
      archiveOf({ status: p === null ? "ready" : "processing", progress: p }),
    );
    let calls = 0;
    const { of } = fakeServer({ session: { status: "ended" }, pages: () => ({ items: [answers[Math.min(calls++, 2)]!], next_cursor: null }) });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    expect(await screen.findByTestId("archive-progress")).toHaveTextContent("20%");
    await act(() => vi.advanceTimersByTimeAsync(ARCHIVE_REFRESH_MS));
    await waitFor(() => expect(screen.getByTestId("archive-progress")).toHaveTextContent("70%"));
    await act(() => vi.advanceTimersByTimeAsync(ARCHIVE_REFRESH_MS));
    await waitFor(() => expect(within(item("endoscope")).getByTestId("archive-status")).toHaveTextContent("Ready"));
    const listed = of("GET", `${api}/archives`).length;
    await act(() => vi.advanceTimersByTimeAsync(3 * ARCHIVE_REFRESH_MS));
    expect(of("GET", `${api}/archives`)).toHaveLength(listed);
  });

  it("reads further pages with next_cursor", async () => {
    signedInAs(user("surgeon"));
    const { of } = fakeServer({
      session: { status: "ended" },
      pages: (q) =>
        q.get("cursor") === "c2"
          ? { items: [archiveOf({ id: "a2", source: "room-cam" })], next_cursor: null }
          : { items: [archiveOf({ id: "a1" })], next_cursor: "c2" },
    });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await list();
    await userEvent.click(screen.getByRole("button", { name: "More archives" }));
    expect(await screen.findByRole("listitem", { name: "room-cam" })).toBeInTheDocument();
    expect(of("GET", `${api}/archives`).at(-1)?.query.get("cursor")).toBe("c2");
    expect(screen.getAllByTestId("archive")).toHaveLength(2);
    expect(screen.queryByRole("button", { name: "More archives" })).toBeNull();
  });
});

describe("Session page: player", () => {
  const ended = { session: { status: "ended" as const }, pages: () => ({ items: [archiveOf({ id: "a1" })], next_cursor: null }) };
  const player = () => screen.getByLabelText("Archive player") as HTMLVideoElement;

  it("plays the playback URL, and gets a fresh one each time it is opened", async () => {
    signedInAs(user("surgeon"));
    const { of } = fakeServer(ended);
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Play endoscope" }));
    await waitFor(() => expect(player()).toHaveAttribute("src", "http://media.test/a1.mp4?token=t1"));
    expect(player()).toHaveAttribute("controls");
    await userEvent.click(screen.getByRole("button", { name: "Close player" }));
    expect(screen.queryByLabelText("Archive player")).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Play endoscope" }));
    await waitFor(() => expect(player()).toHaveAttribute("src", "http://media.test/a1.mp4?token=t2"));
    // Play again while open: a new link too.
    await userEvent.click(screen.getByRole("button", { name: "Play endoscope" }));
    await waitFor(() => expect(player()).toHaveAttribute("src", "http://media.test/a1.mp4?token=t3"));
    expect(of("GET", "/v1/archives/a1/playback")).toHaveLength(3);
  });

  it("says why an archive cannot be played", async () => {
    signedInAs(user("surgeon"));
    fakeServer({ ...ended, playback: () => apiError(409, "archive_not_playable", "the archive is still processing") });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Play endoscope" }));
    expect(await screen.findByText(/This recording cannot be played: the archive is still processing/)).toBeInTheDocument();
  });

  it("says a format this browser cannot play, and an expired link, with a way to a new one", async () => {
    signedInAs(user("surgeon"));
    vi.spyOn(HTMLMediaElement.prototype, "canPlayType").mockReturnValue("");
    const expired = json({ url: "http://media.test/old", content_type: "video/x-matroska", expires_at: "2020-01-01T00:00:00Z" });
    const { of } = fakeServer({ ...ended, playback: (n) => (n === 1 ? expired : (undefined as unknown as Response)) });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Play endoscope" }));
    expect(await screen.findByText("This browser may not be able to play video/x-matroska.")).toBeInTheDocument();
    fireEvent.error(player());
    expect(await screen.findByText(/The playback link expired/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Get a new link" }));
    await waitFor(() => expect(player()).toHaveAttribute("src", "http://media.test/a1.mp4?token=t2"));
    expect(screen.queryByText(/The playback link expired/)).toBeNull();
    expect(of("GET", "/v1/archives/a1/playback")).toHaveLength(2);
  });
});

describe("Session page: retention", () => {
  it("lets an admin put an archive on legal hold", async () => {
    signedInAs(user("admin"));
    const { sent } = fakeServer({ session: { status: "ended" }, pages: () => ({ items: [archiveOf({ id: "a1" })], next_cursor: null }) });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Edit retention of endoscope" }));
    const form = screen.getByRole("form", { name: "Retention of endoscope" });
    await userEvent.click(within(form).getByRole("checkbox", { name: /Legal hold/ }));
    await userEvent.click(within(form).getByRole("button", { name: "Save retention" }));
    expect(await within(item("endoscope")).findByText("Legal hold")).toBeInTheDocument();
    expect(screen.queryByRole("form", { name: "Retention of endoscope" })).toBeNull();
    const patch = sent.filter((r) => r.method === "PATCH");
    expect(patch.map((r) => [r.path, r.body])).toEqual([["/v1/archives/a1", { legal_hold: true }]]);
  });

  it("shows the server's refusal in the editor", async () => {
    signedInAs(user("admin"));
    fakeServer({
      session: { status: "ended" },
      pages: () => ({ items: [archiveOf({ id: "a1" })], next_cursor: null }),
      refuse: (r) => (r.method === "PATCH" ? apiError(422, "validation_failed", "expires_at is in the past") : undefined),
    });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Edit retention of endoscope" }));
    await userEvent.click(screen.getByRole("checkbox", { name: /Legal hold/ }));
    await userEvent.click(screen.getByRole("button", { name: "Save retention" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("expires_at is in the past");
  });
});
