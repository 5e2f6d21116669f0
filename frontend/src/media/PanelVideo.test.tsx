import { act, fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { FakeStream, FakeTrack } from "./fakeWebRtc";
import { PanelVideo } from "./PanelVideo";

const fakeStream = () => ({ id: Math.random().toString(36) }) as unknown as MediaStream;

describe("PanelVideo", () => {
  it("says when a panel has no source", () => {
    render(<PanelVideo panelId="p1" source={null} stream={null} />);
    expect(screen.getByText("No source")).toBeVisible();
    const video = screen.getByTestId("panel-video-p1");
    expect(video).toHaveAttribute("data-source", "");
    expect(video).toHaveAttribute("data-state", "empty");
  });

  it("names the source it waits for, and labels the video for screen readers", () => {
    render(<PanelVideo panelId="p1" source="endoscope" stream={null} />);
    expect(screen.getByText("Waiting for endoscope…")).toBeVisible();
    const video = screen.getByLabelText("Video of endoscope");
    expect(video.tagName).toBe("VIDEO");
    expect(video).toHaveAttribute("data-source", "endoscope");
    expect((video as HTMLVideoElement).muted).toBe(true);
    expect(video).toHaveAttribute("playsinline");
    expect(video).toHaveAttribute("autoplay");
  });

  it("plays the stream and hides the placeholder at its first picture", () => {
    const stream = fakeStream();
    const { rerender } = render(<PanelVideo panelId="p1" source="endoscope" stream={stream} />);
    const video = screen.getByTestId("panel-video-p1") as HTMLVideoElement;
    expect(video.srcObject).toBe(stream);
    expect(screen.getByText("Waiting for endoscope…")).toBeVisible();
    expect(video).toHaveAttribute("data-state", "waiting");

    Object.defineProperty(video, "videoWidth", { configurable: true, value: 640 });
    act(() => {
      fireEvent(video, new Event("loadeddata"));
    });
    expect(screen.queryByText("Waiting for endoscope…")).toBeNull();
    expect(video).toHaveAttribute("data-state", "playing");

    // A re-render with the same stream keeps playing; another stream waits for its own picture.
    rerender(<PanelVideo panelId="p1" source="endoscope" stream={stream} />);
    expect(video).toHaveAttribute("data-state", "playing");
    Object.defineProperty(video, "videoWidth", { configurable: true, value: 0 });
    const other = fakeStream();
    rerender(<PanelVideo panelId="p1" source="room-cam" stream={other} />);
    expect(video.srcObject).toBe(other);
    expect(screen.getByText("Waiting for room-cam…")).toBeVisible();

    rerender(<PanelVideo panelId="p1" source="room-cam" stream={null} />);
    expect(video.srcObject).toBeNull();
  });

  it("plays a source's sound only when the viewer turns it on, and only once sound arrives", async () => {
    const voice = new FakeTrack("", "audio");
    voice.muted = true; // no packets yet
    const stream = new FakeStream([new FakeTrack(), voice]) as unknown as MediaStream;
    render(<PanelVideo panelId="p1" source="endoscope" stream={stream} />);
    const video = screen.getByTestId("panel-video-p1") as HTMLVideoElement;
    Object.defineProperty(video, "videoWidth", { configurable: true, value: 640 });
    act(() => {
      fireEvent(video, new Event("loadeddata"));
    });
    expect(screen.queryByRole("button", { name: "Sound of endoscope" })).toBeNull();

    act(() => {
      voice.muted = false;
      voice.dispatchEvent(new Event("unmute"));
    });
    const toggle = screen.getByRole("button", { name: "Sound of endoscope" });
    expect(toggle).toHaveAttribute("aria-pressed", "false");
    expect(video.muted).toBe(true);
    await userEvent.click(toggle);
    expect(video.muted).toBe(false);
    expect(toggle).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(toggle);
    expect(video.muted).toBe(true);
  });
});
