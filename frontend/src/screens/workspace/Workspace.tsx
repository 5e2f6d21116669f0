// The OR workspace of a live session: join, then one WebSocket keeps the panel grid, presence
// and session status the same as every other participant's. Every layout change goes to the
// server; what is drawn is what the server's events say (plus this client's pending moves).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { KeyboardEvent } from "react";
import { Link, useParams } from "react-router";
import { ApiError, call, http, type JoinResponse } from "../../api/client";
import { nameOf, useDirectory } from "../../api/directory";
import type { LayoutUpdateMessage, ServerMessage } from "../../api/generated/ws";
import { useToasts } from "../../components/Toasts";
import { Alert, Badge, Button, messageOf } from "../../components/ui";
import type { MediaOptions } from "../../media/types";
import {
  RealtimeConnection,
  type CloseReason,
  type ConnectionOptions,
  type ConnectionStatus,
  type OutgoingMessage,
  type WsAccess,
} from "../../realtime/connection";
import {
  canEditLayout,
  initialSessionState,
  sessionReducer,
  sourcesInUse,
  type Conflict,
  type SessionState,
} from "../../realtime/sessionState";
import { ConnectionIndicator } from "./ConnectionIndicator";
import { firstFreeSpot, keyboardRect, MAX_PANELS, nextPanelId, patchOf, withOverlay, type Rect } from "./grid";
import { PanelVideo, useSessionMedia } from "../../media";
import { PanelCard } from "./PanelCard";
import { Presence } from "./Presence";
import { PublishControl } from "./PublishControl";
import { WorkspaceGrid, type GridPanel } from "./WorkspaceGrid";

/** What the screen needs of a connection (a test passes a fake). */
export interface ConnectionLike {
  start(): void;
  stop(): void;
  send(msg: OutgoingMessage): string;
}
export type Connect = (options: ConnectionOptions) => ConnectionLike;

const defaultConnect: Connect = (options) => new RealtimeConnection(options);

const FLASH_MS = 1500;

const FIELD_NAMES: Record<Conflict["field"], string> = {
  x: "x",
  y: "y",
  w: "w",
  h: "h",
  z: "z",
  source_id: "source",
  panels: "the panel set",
};

interface Joined {
  join: JoinResponse;
  joinedAt: number;
}

async function joinSession(id: string): Promise<Joined> {
  const { data } = await call(() =>
    http.POST("/v1/sessions/{id}/participants:join", { params: { path: { id } }, body: { device: "browser" } }),
  );
  const join = data as JoinResponse;
  if (!join || !("ws" in join)) throw new Error("The server accepted the join but sent no connection details; try again.");
  return { join, joinedAt: Date.now() };
}

function accessOf(join: JoinResponse): WsAccess {
  return { url: join.ws.url, token: join.ws.token, expiresAt: join.expires_at };
}

export function Workspace({ connect = defaultConnect }: { connect?: Connect } = {}) {
  const { id = "" } = useParams();
  const [joined, setJoined] = useState<Joined | null>(null);
  const [error, setError] = useState<unknown>(null);
  // StrictMode runs effects twice: one join per screen, or we would be two participants.
  const joining = useRef<{ id: string; promise: Promise<Joined> } | null>(null);

  useEffect(() => {
    if (joining.current?.id !== id) joining.current = { id, promise: joinSession(id) };
    let live = true;
    setJoined(null);
    setError(null);
    joining.current.promise.then(
      (j) => live && setJoined(j),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [id]);

  if (error) {
    const notLive = error instanceof ApiError && error.status === 409;
    return (
      <main className="flex flex-col gap-3 p-6">
        <h1 className="text-xl font-semibold">Workspace</h1>
        <Alert>{notLive ? "This session is not live." : messageOf(error)}</Alert>
        {notLive && error instanceof ApiError && <p className="text-sm text-slate-400">Server: {error.describe()}</p>}
        <Link className="text-sky-300 underline" to={`/sessions/${id}`}>
          Back to the session
        </Link>
      </main>
    );
  }
  if (!joined) {
    return (
      <main className="p-6" aria-busy="true">
        <p role="status" className="text-slate-300">
          Joining the session…
        </p>
      </main>
    );
  }
  return <WorkspaceView key={id} sessionId={id} initial={joined} connect={connect} />;
}

interface Pending {
  ref: string;
  rect: Rect;
  /** The layout version the ack named: the move is shown until the layout reaches it. */
  ackVersion: number | null;
}

function WorkspaceView({ sessionId, initial, connect }: { sessionId: string; initial: Joined; connect: Connect }) {
  const { push } = useToasts();
  const directory = useDirectory();
  const [joined, setJoined] = useState(initial);
  const [state, setStateValue] = useState<SessionState>(initialSessionState);
  const stateRef = useRef(state);
  const [status, setStatus] = useState<ConnectionStatus>("connecting");
  const [closeReason, setCloseReason] = useState<CloseReason | null>(null);
  const [pending, setPendingValue] = useState<Map<string, Pending>>(new Map());
  const pendingRef = useRef(pending);
  const [contested, setContested] = useState<Map<string, string>>(new Map());
  const flashTimers = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  const [gridEpoch, setGridEpoch] = useState(0);
  const [sideOpen, setSideOpen] = useState(true);
  const connRef = useRef<ConnectionLike | null>(null);

  const setPending = useCallback((next: Map<string, Pending>) => {
    pendingRef.current = next;
    setPendingValue(next);
  }, []);

  const sendFirstFrame = useCallback<MediaOptions["sendFirstFrame"]>((msg) => {
    try {
      connRef.current?.send({ type: "media.first_frame", ...msg });
    } catch {
      // Not connected: a lost measurement, nothing for the user to do.
    }
  }, []);
  const mediaOptions = useMemo<MediaOptions>(
    () => ({
      sessionId,
      join: joined.join,
      joinedAt: joined.joinedAt,
      canPublish: joined.join.permissions.includes("publish"),
      sendFirstFrame,
    }),
    [sessionId, joined, sendFirstFrame],
  );
  const media = useSessionMedia(mediaOptions);

  // The message handler sees the latest directory, media and toasts without reconnecting.
  const latest = useRef({ directory, media, push });
  latest.current = { directory, media, push };

  const flash = useCallback((panelId: string, text: string) => {
    setContested((m) => new Map(m).set(panelId, text));
    const old = flashTimers.current.get(panelId);
    if (old) clearTimeout(old);
    flashTimers.current.set(
      panelId,
      setTimeout(() => {
        flashTimers.current.delete(panelId);
        setContested((m) => {
          const next = new Map(m);
          next.delete(panelId);
          return next;
        });
      }, FLASH_MS),
    );
  }, []);

  const onMessage = useCallback(
    (msg: ServerMessage) => {
      const { directory, media, push } = latest.current;
      const prev = stateRef.current;
      const next = sessionReducer(prev, msg);
      stateRef.current = next;
      setStateValue(next);
      const name = (userId: string | null) => (userId ? nameOf(directory, userId) : "The server");

      switch (msg.type) {
        case "welcome":
        case "resumed":
          // Writes in flight when the socket dropped may never be answered: show the server's layout.
          if (pendingRef.current.size > 0) setPending(new Map());
          if (msg.type === "welcome" && prev.ready) push("Reconnected: the workspace was reloaded from the server.", "info");
          break;
        case "event": {
          if (next === prev) break; // seen already
          media.onSessionEvent(msg.event_type, msg.data);
          const data = msg.data as Record<string, unknown>;
          if (msg.event_type === "ParticipantJoined" && data.participant_id !== next.participantId) {
            push(`${name(data.user_id as string)} joined`, "info");
          } else if (msg.event_type === "ParticipantLeft" && data.participant_id !== next.participantId) {
            push(`${name(data.user_id as string)} left`, "info");
          } else if (msg.event_type === "LayoutUpdated" && next.lastConflicts?.position === msg.position) {
            const byPanel = new Map<string, Conflict[]>();
            for (const c of next.lastConflicts.conflicts) {
              const key = c.panel_id ?? "";
              byPanel.set(key, [...(byPanel.get(key) ?? []), c]);
            }
            for (const [panelId, list] of byPanel) {
              const winner = name(list[0]!.winner.user_id);
              const fields = [...new Set(list.map((c) => FIELD_NAMES[c.field]))].join(", ");
              const text = `${winner} won the edit of ${fields}`;
              if (panelId && next.layout.panels.some((p) => p.id === panelId)) {
                flash(panelId, text);
                push(`${text} on panel ${panelId}`, "warning");
              } else {
                push(panelId ? `${text} on panel ${panelId}` : text, "warning");
              }
            }
          } else if (msg.event_type === "SessionEnded" || msg.event_type === "SessionCancelled") {
            connRef.current?.stop();
          }
          // A pending move is done once the layout reached the version its ack named.
          if (next.layout.version !== prev.layout.version) {
            const kept = new Map([...pendingRef.current].filter(([, p]) => p.ackVersion === null || p.ackVersion > next.layout.version));
            if (kept.size !== pendingRef.current.size) setPending(kept);
          }
          break;
        }
        case "ack": {
          const entries = [...pendingRef.current].filter(([, p]) => p.ref === msg.ref);
          if (entries.length === 0) break;
          const out = new Map(pendingRef.current);
          for (const [panelId, p] of entries) {
            const v = msg.layout_version ?? next.layout.version;
            if (v <= next.layout.version) out.delete(panelId);
            else out.set(panelId, { ...p, ackVersion: v });
          }
          setPending(out);
          break;
        }
        case "error": {
          const out = new Map([...pendingRef.current].filter(([, p]) => p.ref !== msg.ref));
          if (out.size !== pendingRef.current.size) setPending(out);
          push(`Not applied: ${msg.message}`, "error");
          break;
        }
        default:
          break;
      }
    },
    [flash, setPending],
  );

  useEffect(() => {
    let conn: ConnectionLike | null = null;
    conn = connect({
      access: accessOf(initial.join),
      // A connection already replaced (StrictMode's first mount) must not speak for the screen.
      onMessage: (msg) => connRef.current === conn && onMessage(msg),
      onStatus: (s, reason) => {
        if (connRef.current !== conn) return;
        setStatus(s);
        setCloseReason(reason);
      },
      renew: async () => {
        // A new join is a new participant with new tokens (for the media layer too).
        const fresh = await joinSession(sessionId);
        setJoined(fresh);
        return accessOf(fresh.join);
      },
    });
    connRef.current = conn;
    // Started a tick later: StrictMode's mount-unmount-mount then never opens a first socket
    // that the server would see as this participant connecting twice (4009 replaced).
    const starting = setTimeout(() => conn.start(), 0);
    const timers = flashTimers.current;
    return () => {
      clearTimeout(starting);
      connRef.current = null;
      conn.stop();
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    };
    // One connection per screen: the callbacks it holds read refs.
  }, []);

  const panels = state.layout.panels;
  const wanted = sourcesInUse(panels);
  const wantedKey = wanted.join("\n");
  useEffect(() => {
    media.setWanted(wantedKey === "" ? [] : wantedKey.split("\n"));
    // `media` may change identity with every render of the media layer; the wanted set is what matters.
  }, [wantedKey]);

  const editable = canEditLayout(state) && status !== "closed" && state.status === "live";
  const ended = state.status === "ended" || state.status === "cancelled" || closeReason === "ended";

  /** Sends a write; false (and a toast) when it could not be sent. */
  const sendWrite = (msg: OutgoingMessage): string | null => {
    const conn = connRef.current;
    try {
      if (!conn) throw new Error("Not connected to the session.");
      return conn.send(msg);
    } catch (e) {
      push(messageOf(e), "error");
      return null;
    }
  };

  const shown = withOverlay(panels, new Map([...pending].map(([id, p]) => [id, p.rect])));

  const move = (id: string, rect: Rect) => {
    const current = shown.find((p) => p.id === id);
    if (!current) return;
    const patch = patchOf(current, rect);
    if (!patch) return;
    const msg: Omit<LayoutUpdateMessage, "ref"> = {
      type: "layout.update",
      base_version: stateRef.current.layout.version,
      changes: { panels: { [id]: patch } },
    };
    const ref = sendWrite(msg);
    if (ref === null) {
      setGridEpoch((n) => n + 1); // the grid drew the drag: put it back
      return;
    }
    setPending(new Map(pendingRef.current).set(id, { ref, rect, ackVersion: null }));
  };

  const onKey = (id: string) => (e: KeyboardEvent<HTMLButtonElement>) => {
    const current = shown.find((p) => p.id === id);
    if (!current || !e.key.startsWith("Arrow")) return;
    e.preventDefault();
    const rect = keyboardRect(current, e.key, e.shiftKey);
    if (rect) move(id, rect);
  };

  const addPanel = () => {
    const spot = firstFreeSpot(shown);
    const place = spot ?? { x: 0, y: 0, w: 4, h: 4 };
    const id = nextPanelId(panels);
    sendWrite({
      type: "layout.update",
      base_version: stateRef.current.layout.version,
      // A full grid: on top of the others rather than refused.
      changes: { add: [{ id, ...place, z: spot ? 0 : Math.max(0, ...panels.map((p) => p.z)) + 1, source_id: null }] },
    });
  };

  const removePanel = (id: string) => {
    sendWrite({ type: "layout.update", base_version: stateRef.current.layout.version, changes: { remove: [id] } });
  };

  const selectSource = (id: string, source: string | null) => {
    sendWrite({ type: "source.select", panel_id: id, source_id: source });
  };

  const sourceOptions = [...media.sessionSources, ...wanted.filter((s) => !media.sessionSources.includes(s))];

  const gridPanels: GridPanel[] = shown.map((p) => {
    const server = panels.find((s) => s.id === p.id) ?? p;
    const flashText = contested.get(p.id) ?? null;
    return {
      shown: p,
      server,
      contested: flashText !== null,
      pending: pending.has(p.id),
      content: (
        <PanelCard
          panel={server}
          editable={editable}
          sourceOptions={server.source_id && !sourceOptions.includes(server.source_id) ? [...sourceOptions, server.source_id] : sourceOptions}
          contested={flashText}
          onKey={onKey(p.id)}
          onRemove={() => removePanel(p.id)}
          onSelectSource={(s) => selectSource(p.id, s)}
        >
          <PanelVideo panelId={p.id} source={server.source_id} stream={server.source_id ? media.streamFor(server.source_id) : null} />
        </PanelCard>
      ),
    };
  });

  const mainRef = useRef<HTMLElement>(null);
  const [height, setHeight] = useState<number | null>(null);
  useEffect(() => {
    // Fill the viewport below the app's header so the 12 rows fit without scrolling.
    const fit = () => {
      const top = mainRef.current?.getBoundingClientRect().top ?? 0;
      setHeight(Math.max(320, window.innerHeight - top));
    };
    fit();
    window.addEventListener("resize", fit);
    return () => window.removeEventListener("resize", fit);
  }, []);

  const blocking =
    closeReason === "removed"
      ? "You were removed from this session."
      : closeReason === "replaced"
        ? "This workspace was opened again elsewhere (another tab or device); this one is disconnected."
        : closeReason === "renew_failed"
          ? "The connection could not be renewed. Go back to the session and open the workspace again."
          : null;

  return (
    <main
      ref={mainRef}
      className="flex min-h-0 flex-col"
      style={height ? { height } : { height: "calc(100vh - 3.1rem)" }}
      aria-labelledby="workspace-title"
    >
      <style>{WORKSPACE_CSS}</style>
      <div className="flex flex-wrap items-center gap-2 border-b border-slate-800 bg-slate-900/60 px-3 py-2">
        <h1 id="workspace-title" className="mr-2 truncate text-lg font-semibold">
          {state.ready ? state.title : "Workspace"}
        </h1>
        {state.ready && (
          <Badge tone={state.status === "live" ? "emerald" : "slate"}>{state.status}</Badge>
        )}
        {state.recording.status === "recording" && <Badge tone="rose">recording</Badge>}
        {state.ready && state.role && <span className="text-sm text-slate-400">You: {state.role}</span>}
        <div className="ml-auto flex flex-wrap items-center gap-2">
          {editable && (
            <Button onClick={addPanel} disabled={panels.length >= MAX_PANELS || status !== "connected"}>
              Add panel
            </Button>
          )}
          <Button
            variant="secondary"
            aria-expanded={sideOpen}
            aria-controls="workspace-side"
            onClick={() => setSideOpen((o) => !o)}
          >
            {sideOpen ? "Hide participants" : "Show participants"}
          </Button>
          <ConnectionIndicator status={status} reason={ended && status === "closed" ? "ended" : closeReason} />
          <Link className="text-sm text-sky-300 underline" to={`/sessions/${sessionId}`}>
            Session details
          </Link>
        </div>
      </div>

      <div className="flex flex-col gap-2 px-3 pt-2 empty:hidden">
        {ended && (
          <div data-testid="session-ended">
            <Alert kind="info">
              The session has ended.{" "}
              <Link className="underline" to={`/sessions/${sessionId}`}>
                Back to the session
              </Link>
            </Alert>
          </div>
        )}
        {!ended && blocking && <Alert>{blocking}</Alert>}
        {state.ready && !canEditLayout(state) && !ended && (
          <div data-testid="read-only">
            <Alert kind="info">Read-only: you are watching as an observer.</Alert>
          </div>
        )}
        {status === "offline" && !ended && (
          <Alert>You are offline. The workspace will catch up when the network is back.</Alert>
        )}
      </div>

      <div className="flex min-h-0 flex-1">
        <div className="relative min-h-0 min-w-0 flex-1">
          {!state.ready ? (
            <p role="status" className="p-6 text-slate-300">
              Connecting to the session…
            </p>
          ) : (
            <WorkspaceGrid key={gridEpoch} panels={gridPanels} editable={editable} onChange={move} />
          )}
          <p id="panel-keys-help" className="sr-only">
            Arrow keys move the panel one cell; Shift with Arrow keys resizes it.
          </p>
        </div>
        {sideOpen && (
          <aside
            id="workspace-side"
            className="flex w-56 shrink-0 flex-col gap-4 overflow-y-auto border-l border-slate-800 bg-slate-900/40 p-3 xl:w-64"
          >
            <Presence participants={state.participants} me={state.participantId} directory={directory} />
            {state.ready && state.permissions.includes("publish") && state.status === "live" && <PublishControl media={media} />}
          </aside>
        )}
      </div>
    </main>
  );
}

const WORKSPACE_CSS = `
.ls-panel:focus-within { z-index: 1000 !important; }
.ls-panel > .react-resizable-handle { opacity: 0.85; }
.ls-panel > .react-resizable-handle::after { border-color: rgb(203 213 225); }
@media (prefers-reduced-motion: no-preference) {
  .contested-flash { animation: ls-contested 500ms ease-in-out 3; }
}
@keyframes ls-contested {
  0%, 100% { box-shadow: 0 0 0 0 rgb(251 191 36 / 0.9); }
  50% { box-shadow: 0 0 0 10px rgb(251 191 36 / 0.25); }
}
`;
