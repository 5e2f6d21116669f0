// Leaving must not silently cut the operating room's feed: the warnings before leaving, the
// resume offer after a reload, the confirmed Stop, the camera preview and the microphone.
import { act, render, renderHook, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Link, RouterProvider, createMemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeStream, FakeTrack } from "../../media/fakeWebRtc";
import type { LocalSource, SessionMedia } from "../../media/types";
import { LeaveGuard } from "./LeaveGuard";
import { PublishControl } from "./PublishControl";
import { readRemembered, usePublishMemory } from "./publishMemory";
import { ResumeBanner } from "./ResumeOffer";

const SID = "0190a1b2-0000-7000-8000-0000000000aa";

function source(name: string, over: Partial<LocalSource> = {}): LocalSource {
  return { source: name, deviceLabel: `${name} camera`, stream: new FakeStream() as unknown as MediaStream, state: "live", audio: null, muted: false, ...over };
}

function fakeMedia(published: LocalSource[] = [], devices: Array<Pick<MediaDeviceInfo, "kind" | "deviceId" | "label">> = []): SessionMedia {
  return {
    published,
    publish: vi.fn(async () => {}),
    unpublish: vi.fn(async () => {}),
    setMuted: vi.fn(),
    devices: devices as MediaDeviceInfo[],
    sessionSources: [],
    sourcePublishers: {},
    sourceStalledSince: {},
    setWanted: vi.fn(),
    streamFor: () => null,
    framesDecoded: async () => null,
    onSessionEvent: vi.fn(),
    error: null,
  };
}

beforeEach(() => sessionStorage.clear());
afterEach(() => vi.unstubAllGlobals());

describe("leaving while publishing", () => {
  function guarded(sources: string[]) {
    const router = createMemoryRouter(
      [
        {
          path: "/w",
          element: (
            <>
              <LeaveGuard sources={sources} />
              <Link to="/details">Session details</Link>
            </>
          ),
        },
        { path: "/details", element: <p>details page</p> },
      ],
      { initialEntries: ["/w"] },
    );
    return render(<RouterProvider router={router} />);
  }

  it("asks the browser to warn on reload or close while a source is published, and not otherwise", () => {
    const { unmount } = guarded(["endoscope"]);
    const event = new Event("beforeunload", { cancelable: true });
    window.dispatchEvent(event);
    expect(event.defaultPrevented).toBe(true);
    unmount();
    guarded([]);
    const idle = new Event("beforeunload", { cancelable: true });
    window.dispatchEvent(idle);
    expect(idle.defaultPrevented).toBe(false);
  });

  it("holds in-app navigation away from the workspace in a dialog: Stay stays, Leave leaves", async () => {
    guarded(["endoscope", "room-cam"]);
    await userEvent.click(screen.getByRole("link", { name: "Session details" }));
    const dialog = screen.getByRole("dialog", { name: "Leave the workspace?" });
    expect(dialog).toHaveTextContent("You are publishing endoscope, room-cam. Leaving stops them for everyone");
    await userEvent.click(within(dialog).getByRole("button", { name: "Stay" }));
    expect(screen.queryByText("details page")).toBeNull();
    expect(screen.queryByRole("dialog")).toBeNull();

    await userEvent.click(screen.getByRole("link", { name: "Session details" }));
    await userEvent.click(screen.getByRole("button", { name: "Leave and stop publishing" }));
    expect(await screen.findByText("details page")).toBeInTheDocument();
  });

  it("lets navigation through when nothing is published", async () => {
    guarded([]);
    await userEvent.click(screen.getByRole("link", { name: "Session details" }));
    expect(await screen.findByText("details page")).toBeInTheDocument();
    expect(screen.queryByRole("dialog")).toBeNull();
  });
});

describe("resuming after a reload", () => {
  it("remembers per session which sources were published, with their camera and microphone", () => {
    const media = fakeMedia([
      source("endoscope", { deviceId: "cam1", audio: { deviceId: "mic1" } }),
      source("room-cam", { state: "failed" }),
    ]);
    renderHook(() => usePublishMemory(SID, media, false));
    expect(readRemembered(SID)).toEqual([{ source: "endoscope", deviceId: "cam1", audio: { deviceId: "mic1" } }]);
    expect(readRemembered("another-session")).toEqual([]);
  });

  it("offers to resume what was published before the reload, and publishes it again alike", async () => {
    sessionStorage.setItem(
      `livesurgery.publishing.${SID}`,
      JSON.stringify([
        { source: "endoscope", deviceId: "cam1", audio: { deviceId: "mic1" } },
        { source: "room-cam", audio: null },
      ]),
    );
    const media = fakeMedia();
    function Banner() {
      return <ResumeBanner offer={usePublishMemory(SID, media, false)} />;
    }
    render(<Banner />);
    const offer = screen.getByRole("region", { name: "Resume publishing" });
    expect(offer).toHaveTextContent("Resume publishing endoscope, room-cam?");
    // Still remembered while it is only offered (a second reload offers it again).
    expect(readRemembered(SID).map((r) => r.source)).toEqual(["endoscope", "room-cam"]);
    await userEvent.click(within(offer).getByRole("button", { name: "Resume" }));
    expect(media.publish).toHaveBeenCalledWith("endoscope", "cam1", { deviceId: "mic1" });
    expect(media.publish).toHaveBeenCalledWith("room-cam", undefined, null);
    expect(screen.queryByRole("region", { name: "Resume publishing" })).toBeNull();
  });

  it("forgets the offer when dismissed, and when the session ends", async () => {
    sessionStorage.setItem(`livesurgery.publishing.${SID}`, JSON.stringify([{ source: "endoscope", audio: {} }]));
    const media = fakeMedia();
    function Banner({ over }: { over: boolean }) {
      return <ResumeBanner offer={usePublishMemory(SID, media, over)} />;
    }
    const { rerender } = render(<Banner over={false} />);
    await userEvent.click(screen.getByRole("button", { name: "Dismiss" }));
    expect(screen.queryByRole("region", { name: "Resume publishing" })).toBeNull();
    expect(media.publish).not.toHaveBeenCalled();
    expect(readRemembered(SID)).toEqual([]);

    sessionStorage.setItem(`livesurgery.publishing.${SID}`, JSON.stringify([{ source: "endoscope", audio: {} }]));
    rerender(<Banner over={true} />);
    expect(readRemembered(SID)).toEqual([]);
  });
});

describe("the publish control", () => {
  it("says a published source is stalled when the server receives no video of it, counting up", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: false });
    try {
      const media = fakeMedia([source("endoscope")]);
      const stalled = new Map([["endoscope", { stalledSince: Date.now() - 4000, stopped: false, quality: null, heard: true }]]);
      const { rerender } = render(<PublishControl media={media} health={stalled} />);
      const entry = screen.getByTestId("published-endoscope");
      expect(within(entry).getByText("stalled")).toBeInTheDocument();
      expect(within(entry).queryByText("live")).toBeNull();
      expect(within(entry).getByRole("status")).toHaveTextContent("no video of it for 4 s");
      await act(async () => {
        await vi.advanceTimersByTimeAsync(2000);
      });
      expect(within(entry).getByRole("status")).toHaveTextContent("no video of it for 6 s");
      rerender(<PublishControl media={media} health={new Map()} />);
      expect(within(screen.getByTestId("published-endoscope")).getByText("live")).toBeInTheDocument();
      expect(within(screen.getByTestId("published-endoscope")).queryByText("stalled")).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it("asks before Stop cuts a feed", async () => {
    const media = fakeMedia([source("endoscope")]);
    render(<PublishControl media={media} health={new Map()} />);
    await userEvent.click(screen.getByRole("button", { name: "Stop publishing endoscope" }));
    const dialog = screen.getByRole("dialog", { name: "Stop publishing endoscope?" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(within(dialog).getByRole("button", { name: "Keep publishing" })).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(media.unpublish).not.toHaveBeenCalled();

    await userEvent.click(screen.getByRole("button", { name: "Stop publishing endoscope" }));
    await userEvent.click(screen.getByRole("button", { name: "Stop publishing" }));
    expect(media.unpublish).toHaveBeenCalledWith("endoscope");
  });

  it("previews the chosen camera before publishing, and frees it to publish", async () => {
    const track = new FakeTrack("Camera two");
    const getUserMedia = vi.fn(async () => new FakeStream([track]));
    vi.stubGlobal("navigator", { mediaDevices: { getUserMedia } });
    const media = fakeMedia([], [
      { kind: "videoinput", deviceId: "cam1", label: "Camera one" },
      { kind: "videoinput", deviceId: "cam2", label: "Camera two" },
    ]);
    render(<PublishControl media={media} health={new Map()} />);
    expect(screen.queryByTestId("camera-preview")).toBeNull();
    await userEvent.selectOptions(screen.getByLabelText("Camera"), "cam2");
    await userEvent.click(screen.getByRole("button", { name: "Preview camera" }));
    const preview = screen.getByLabelText("Preview of the chosen camera");
    await vi.waitFor(() => expect((preview as HTMLVideoElement).srcObject).toBeInstanceOf(FakeStream));
    expect(getUserMedia).toHaveBeenCalledWith({ video: { deviceId: { exact: "cam2" } }, audio: false });

    await userEvent.click(screen.getByRole("button", { name: "Publish" }));
    expect(media.publish).toHaveBeenCalledWith("endoscope", "cam2", {});
    expect(screen.queryByTestId("camera-preview")).toBeNull();
    expect(track.stopped).toBe(true);
  });

  it("publishes the chosen microphone (or none) and mutes it", async () => {
    const media = fakeMedia([source("endoscope", { audio: {} }), source("room-cam")], [
      { kind: "videoinput", deviceId: "cam1", label: "Camera one" },
      { kind: "audioinput", deviceId: "mic2", label: "Headset" },
    ]);
    const { rerender } = render(<PublishControl media={media} health={new Map()} />);
    await userEvent.clear(screen.getByLabelText("Source name"));
    await userEvent.type(screen.getByLabelText("Source name"), "vitals");
    await userEvent.selectOptions(screen.getByLabelText("Microphone"), "mic2");
    await userEvent.click(screen.getByRole("button", { name: "Publish" }));
    expect(media.publish).toHaveBeenLastCalledWith("vitals", undefined, { deviceId: "mic2" });
    await userEvent.clear(screen.getByLabelText("Source name"));
    await userEvent.type(screen.getByLabelText("Source name"), "overhead");
    await userEvent.selectOptions(screen.getByLabelText("Microphone"), "No microphone (video only)");
    await userEvent.click(screen.getByRole("button", { name: "Publish" }));
    expect(media.publish).toHaveBeenLastCalledWith("overhead", undefined, null);

    // Only a source with a microphone has a mute toggle.
    expect(screen.queryByRole("button", { name: /microphone of room-cam/ })).toBeNull();
    const mute = screen.getByRole("button", { name: "Mute the microphone of endoscope" });
    expect(mute).toHaveAttribute("aria-pressed", "false");
    await userEvent.click(mute);
    expect(media.setMuted).toHaveBeenCalledWith("endoscope", true);
    act(() => {
      rerender(<PublishControl media={{ ...media, published: [source("endoscope", { audio: {}, muted: true })] }} health={new Map()} />);
    });
    const unmute = screen.getByRole("button", { name: "Unmute the microphone of endoscope" });
    expect(unmute).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(unmute);
    expect(media.setMuted).toHaveBeenLastCalledWith("endoscope", false);
  });
});
