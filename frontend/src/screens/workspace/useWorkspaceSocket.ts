// The workspace's WebSocket: one connection per screen, every server message through the
// session reducer (plus the toasts, conflict flashes and pending moves it implies), the writes
// (layout.update, source.select, media.first_frame), and a new join when the token expires.
import { useCallback, useEffect, useRef, useState } from "react";
import { call, http, type JoinResponse } from "../../api/client";
import { nameOf, type DirectoryEntry } from "../../api/directory";
import type { AckMessage, ErrorMessage, EventMessage, LayoutUpdateMessage, Panel, ServerMessage } from "../../api/generated/ws";
import { useToasts } from "../../components/Toasts";
import { messageOf } from "../../components/ui";
import type { MediaOptions } from "../../media/types";
import {
  RealtimeConnection,
  type CloseReason,
  type ConnectionOptions,
  type ConnectionStatus,
  type OutgoingMessage,
  type WsAccess,
} from "../../realtime/connection";
import { initialSessionState, sessionReducer, type Conflict, type SessionState } from "../../realtime/sessionState";
import type { OutgoingTeachingMessage } from "../../teaching/types";
import { firstFreeSpot, nextPanelId, patchOf, withOverlay, type Rect } from "./grid";

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
  name: "name",
  panels: "the panel set",
};

/** A join's answer and when it came (the origin of join-to-first-frame). */
export interface Joined {
  join: JoinResponse;
  joinedAt: number;
}

/** `participants:join` as a browser; throws what the screen shows. */
export async function joinSession(id: string): Promise<Joined> {
  const { data } = await call(() =>
    http.POST("/v1/sessions/{id}/participants:join", { params: { path: { id } }, body: { device: "browser" } }),
  );
  const join = data as JoinResponse;
  if (!join || !("ws" in join)) throw new Error("The server accepted the join but sent no connection details; try again.");
  return { join, joinedAt: Date.now() };
}

/** Where the session's media is placed: a node and its WHIP/WHEP URLs. */
export interface MediaLocation {
  node_id: string;
  whip_url: string;
  whep_url: string;
}

/**
 * The join with its media at `placed`: the same object when nothing moved, else a new one, which
 * makes the media layer publish and subscribe again at the new node (the SFU token stays: every
 * node takes it).
 */
export function withPlacement(joined: Joined, placed: MediaLocation): Joined {
  const sfu = joined.join.sfu;
  if (sfu.whip_url === placed.whip_url && sfu.whep_url === placed.whep_url) return joined;
  return {
    ...joined,
    join: { ...joined.join, sfu: { ...sfu, node_id: placed.node_id, whip_url: placed.whip_url, whep_url: placed.whep_url } },
  };
}

function accessOf(join: JoinResponse): WsAccess {
  return { url: join.ws.url, token: join.ws.token, expiresAt: join.expires_at };
}

/** A move this client sent and the server has not shown yet. */
export interface Pending {
  ref: string;
  rect: Rect;
  /** The layout version the ack named: the move is shown until the layout reaches it. */
  ackVersion: number | null;
}

export interface WorkspaceSocketOptions {
  sessionId: string;
  /** The join the screen opened with; a renewal replaces it (see `joined`). */
  initial: Joined;
  connect?: Connect;
  /** Names for the toasts (who joined, left, won an edit). */
  directory: Map<string, DirectoryEntry>;
  /** Hears every session event once, e.g. the media layer following media events. */
  onSessionEvent: (eventType: string, data: unknown, event: EventMessage) => void;
  /** Hears every `ack` and `error` (after the socket's own handling). */
  onReply?: (msg: AckMessage | ErrorMessage) => void;
}

export interface WorkspaceSocket {
  /** The current join: the initial one, or the last renewal's (new tokens for the media layer too). */
  joined: Joined;
  state: SessionState;
  status: ConnectionStatus;
  closeReason: CloseReason | null;
  /** The panels as drawn: the server's layout with this client's pending moves over it. */
  shown: Panel[];
  pending: ReadonlyMap<string, Pending>;
  /** Panels whose edit was just lost to someone else, with who won what. */
  contested: ReadonlyMap<string, string>;
  /** Grows when the grid must redraw from the state (it drew a drag that was not sent). */
  gridEpoch: number;
  /** Sends `media.first_frame`; a lost measurement when not connected. */
  sendFirstFrame: MediaOptions["sendFirstFrame"];
  /** Moves or resizes a panel to `rect` (a layout.update), shown as pending until the server's event. */
  move(id: string, rect: Rect): void;
  /** Moves several panels in one layout.update (a drag that pushed others aside). */
  moveAll(rects: Record<string, Rect>): void;
  /** Any other layout.update (bring to front, undo a removal); false when it could not be sent. */
  sendChanges(changes: LayoutUpdateMessage["changes"]): boolean;
  /** Adds a panel at the first free spot; nothing when the grid is full. */
  addPanel(): void;
  removePanel(id: string): void;
  /** `source.select` of one panel. */
  selectSource(id: string, source: string | null): void;
  /** A teaching write (issue 21); its ref, or null when not sent. `quiet`: no toast when refused (pointer batches). */
  sendTeaching(msg: OutgoingTeachingMessage, quiet?: boolean): string | null;
}

/** The workspace's one WebSocket and everything it keeps in step with the server. */
export function useWorkspaceSocket({
  sessionId,
  initial,
  connect = defaultConnect,
  directory,
  onSessionEvent,
  onReply,
}: WorkspaceSocketOptions): WorkspaceSocket {
  const { push } = useToasts();
  const [joined, setJoinedValue] = useState(initial);
  const joinedRef = useRef(initial);
  const setJoined = useCallback((next: Joined | ((j: Joined) => Joined)) => {
    joinedRef.current = typeof next === "function" ? next(joinedRef.current) : next;
    setJoinedValue(joinedRef.current);
  }, []);
  const [state, setStateValue] = useState<SessionState>(initialSessionState);
  const stateRef = useRef(state);
  const [status, setStatus] = useState<ConnectionStatus>("connecting");
  const [closeReason, setCloseReason] = useState<CloseReason | null>(null);
  const [pending, setPendingValue] = useState<Map<string, Pending>>(new Map());
  const pendingRef = useRef(pending);
  const [contested, setContested] = useState<Map<string, string>>(new Map());
  const flashTimers = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  const [gridEpoch, setGridEpoch] = useState(0);
  const connRef = useRef<ConnectionLike | null>(null);
  // Writes whose refusal is not worth a toast (a pointer batch over the rate limit).
  const quietRefs = useRef(new Set<string>());

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

  // The message handler sees the latest directory, event listener and toasts without reconnecting.
  const latest = useRef({ directory, onSessionEvent, onReply, push });
  latest.current = { directory, onSessionEvent, onReply, push };

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
      const { directory, onSessionEvent, onReply, push } = latest.current;
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
          // The media may have moved while this socket was away.
          if (msg.type === "welcome" && msg.session.media) {
            const placed = msg.session.media;
            setJoined((j) => withPlacement(j, placed));
          }
          break;
        case "media.placed": {
          // The node holding the session's media stopped: reconnect media to the new one.
          const moved = withPlacement(joinedRef.current, msg);
          if (moved !== joinedRef.current) {
            push("The media server changed: reconnecting video.", "info");
            setJoined(moved);
          }
          break;
        }
        case "event": {
          if (next === prev) break; // seen already
          onSessionEvent(msg.event_type, msg.data, msg);
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
          } else if (msg.event_type === "RecordingStarted" || msg.event_type === "RecordingStopped") {
            const who = msg.actor.user_id === next.userId ? "You" : name(msg.actor.user_id);
            const started = msg.event_type === "RecordingStarted";
            push(`${who} ${started ? "started" : "stopped"} recording`, started ? "warning" : "info");
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
          quietRefs.current.delete(msg.ref);
          onReply?.(msg);
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
          onReply?.(msg);
          if (msg.ref !== null && quietRefs.current.delete(msg.ref)) break;
          push(`Not applied: ${msg.message}`, "error");
          break;
        }
        default:
          break;
      }
    },
    [flash, setPending, setJoined],
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

  /** Sends a write; null (and a toast) when it could not be sent. */
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

  const panels = state.layout.panels;
  const shown = withOverlay(panels, new Map([...pending].map(([id, p]) => [id, p.rect])));

  const moveAll = (rects: Record<string, Rect>) => {
    const patches: Record<string, NonNullable<ReturnType<typeof patchOf>>> = {};
    for (const [id, rect] of Object.entries(rects)) {
      const current = shown.find((p) => p.id === id);
      const patch = current ? patchOf(current, rect) : null;
      if (patch) patches[id] = patch;
    }
    if (Object.keys(patches).length === 0) return;
    const msg: Omit<LayoutUpdateMessage, "ref"> = {
      type: "layout.update",
      base_version: stateRef.current.layout.version,
      changes: { panels: patches },
    };
    const ref = sendWrite(msg);
    if (ref === null) {
      setGridEpoch((n) => n + 1); // the grid drew the drag: put it back
      return;
    }
    const next = new Map(pendingRef.current);
    for (const id of Object.keys(patches)) next.set(id, { ref, rect: rects[id]!, ackVersion: null });
    setPending(next);
  };

  const move = (id: string, rect: Rect) => moveAll({ [id]: rect });

  const sendChanges = (changes: LayoutUpdateMessage["changes"]): boolean =>
    sendWrite({ type: "layout.update", base_version: stateRef.current.layout.version, changes }) !== null;

  const addPanel = () => {
    // A full grid takes no more panels (the screen says so): never one stacked on another.
    const spot = firstFreeSpot(shown);
    if (!spot) return;
    sendChanges({ add: [{ id: nextPanelId(panels), ...spot, z: 0, source_id: null }] });
  };

  const removePanel = (id: string) => {
    sendWrite({ type: "layout.update", base_version: stateRef.current.layout.version, changes: { remove: [id] } });
  };

  const selectSource = (id: string, source: string | null) => {
    sendWrite({ type: "source.select", panel_id: id, source_id: source });
  };

  const sendTeaching = (msg: OutgoingTeachingMessage, quiet = false): string | null => {
    const out: OutgoingMessage = msg;
    if (!quiet) return sendWrite(out);
    try {
      const ref = connRef.current?.send(out) ?? null;
      if (ref !== null) {
        // Bounded: acks take them out; a socket that never answers leaves at most a few hundred.
        if (quietRefs.current.size > 500) quietRefs.current.clear();
        quietRefs.current.add(ref);
      }
      return ref;
    } catch {
      return null; // not connected: a lost pointer batch, nothing to tell
    }
  };

  return {
    joined,
    state,
    status,
    closeReason,
    shown,
    pending,
    contested,
    gridEpoch,
    sendFirstFrame,
    move,
    moveAll,
    sendChanges,
    addPanel,
    removePanel,
    selectSource,
    sendTeaching,
  };
}
