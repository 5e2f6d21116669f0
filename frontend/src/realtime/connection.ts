// The session's WebSocket, kept alive: first message `ping` (welcome at once) or `resume`
// (after a cut: the missed events, then `resumed`), a client heartbeat, reconnect with backoff,
// a fresh token after expiry, and the browser's online/offline events. No React here.
import type { ClientMessage, ServerMessage } from "../api/generated/ws";

export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "offline" | "closed";

/** Why the connection ended for good (status `closed`). */
export type CloseReason = "ended" | "removed" | "replaced" | "stopped" | "renew_failed";

/** The part of the browser's WebSocket this class uses (a test passes a fake). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
}

export type SocketConstructor = new (url: string, protocols: string[]) => SocketLike;

export interface WsAccess {
  url: string;
  token: string;
  /** When the token expires (RFC 3339): a socket refused before opening after that needs a new one. */
  expiresAt?: string;
}

export interface ConnectionOptions {
  access: WsAccess;
  onMessage: (msg: ServerMessage) => void;
  onStatus?: (status: ConnectionStatus, reason: CloseReason | null) => void;
  /** A new WS token (`participants:join` again) after 4001 `token_expired`. */
  renew?: () => Promise<WsAccess>;
  WebSocketImpl?: SocketConstructor;
  /** Where `online` / `offline` are heard (default: window). */
  events?: Pick<EventTarget, "addEventListener" | "removeEventListener">;
  /** Base of a relative ws.url (default: location). */
  base?: { protocol: string; host: string };
  random?: () => number;
  newRef?: () => string;
  backoff?: { initialMs: number; maxMs: number };
}

/** Messages `send` accepts: any client message but `resume`, with its `ref` optional. */
export type OutgoingMessage = WithOptionalRef<Exclude<ClientMessage, { type: "resume" }>>;
type WithOptionalRef<M> = M extends unknown ? Omit<M, "ref"> & { ref?: string } : never;

export class NotConnectedError extends Error {
  constructor() {
    super("Not connected to the session: the change was not sent. Try again once the connection is back.");
    this.name = "NotConnectedError";
  }
}

const CONNECTING = 0;
const OPEN = 1;
/** Close codes after which the client must not come back (README "Limits and close codes"). */
const FINAL: Record<number, CloseReason> = { 1000: "ended", 4003: "removed", 4009: "replaced" };
const TOKEN_EXPIRED = 4001;
/** Our own close of a socket we consider dead (no frame within the heartbeat timeout). */
const CLIENT_TIMEOUT = 4000;

/** ws.url may be absolute (`ws://`, `http://`) or a path: make it a ws(s):// URL. */
export function wsUrl(url: string, base: { protocol: string; host: string }): string {
  if (/^wss?:\/\//i.test(url)) return url;
  if (/^https?:\/\//i.test(url)) return url.replace(/^http/i, "ws");
  const scheme = base.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${base.host}${url.startsWith("/") ? "" : "/"}${url}`;
}

export class RealtimeConnection {
  status: ConnectionStatus = "connecting";
  closeReason: CloseReason | null = null;
  /** The last log position seen (welcome, event or resumed); null before the first welcome. */
  lastPosition: number | null = null;

  private access: WsAccess;
  private socket: SocketLike | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private heartbeat = { intervalMs: 10_000, timeoutMs: 30_000 };
  private stopped = false;
  private started = false;
  private readonly Socket: SocketConstructor;
  private readonly events: Pick<EventTarget, "addEventListener" | "removeEventListener"> | null;
  private readonly random: () => number;
  private readonly newRef: () => string;
  private readonly backoff: { initialMs: number; maxMs: number };

  constructor(private readonly options: ConnectionOptions) {
    this.access = options.access;
    this.Socket = options.WebSocketImpl ?? (globalThis.WebSocket as unknown as SocketConstructor);
    this.events = options.events ?? (typeof window !== "undefined" ? window : null);
    this.random = options.random ?? Math.random;
    this.newRef = options.newRef ?? (() => globalThis.crypto.randomUUID());
    this.backoff = options.backoff ?? { initialMs: 250, maxMs: 5_000 };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.events?.addEventListener("offline", this.handleOffline);
    this.events?.addEventListener("online", this.handleOnline);
    if (typeof navigator !== "undefined" && navigator.onLine === false) {
      this.setStatus("offline");
      return;
    }
    this.open();
  }

  /** Closes for good (leaving the screen). */
  stop(): void {
    if (this.stopped) return;
    this.events?.removeEventListener("offline", this.handleOffline);
    this.events?.removeEventListener("online", this.handleOnline);
    this.finish("stopped");
    this.dropSocket(1000, "leaving");
  }

  /**
   * Sends a client message with a fresh `ref` (or the one given) and returns the ref. Throws
   * `NotConnectedError` unless connected: a layout write must be based on a layout the client
   * knows to be current, so it is never queued for later.
   */
  send(msg: OutgoingMessage): string {
    if (this.status !== "connected" || !this.socket || this.socket.readyState !== OPEN) {
      throw new NotConnectedError();
    }
    const ref = msg.ref ?? this.newRef();
    this.socket.send(JSON.stringify({ ...msg, ref }));
    return ref;
  }

  private setStatus(status: ConnectionStatus, reason: CloseReason | null = null): void {
    if (this.status === status && this.closeReason === reason) return;
    this.status = status;
    this.closeReason = reason;
    this.options.onStatus?.(status, reason);
  }

  private finish(reason: CloseReason): void {
    this.stopped = true;
    this.clearTimers();
    this.setStatus("closed", reason);
  }

  private open(): void {
    if (this.stopped) return;
    this.clearRetry();
    const socket = new this.Socket(wsUrl(this.access.url, this.options.base ?? globalThis.location), [
      "livesurgery.v1",
      `bearer.${this.access.token}`,
    ]);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      opened = true;
      // The first message decides: `resume` replays what we missed, `ping` gets the welcome at once.
      const first: ClientMessage =
        this.lastPosition === null ? { type: "ping" } : { type: "resume", after_position: this.lastPosition };
      socket.send(JSON.stringify(first));
      this.armWatchdog();
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (this.socket !== socket) return;
      this.armWatchdog();
      let msg: ServerMessage;
      try {
        msg = JSON.parse(String(ev.data)) as ServerMessage;
      } catch {
        return;
      }
      this.receive(msg);
    };
    socket.onerror = () => {
      // A close event always follows; the decision is taken there.
    };
    socket.onclose = (ev: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.clearTimers();
      this.closed(ev.code, opened);
    };
  }

  private receive(msg: ServerMessage): void {
    switch (msg.type) {
      case "welcome":
        // A welcome is a snapshot: it replaces whatever was known, position included.
        this.lastPosition = msg.position;
        this.heartbeat = { intervalMs: msg.heartbeat_interval_ms, timeoutMs: msg.heartbeat_timeout_ms };
        this.attempt = 0;
        this.startPing();
        this.armWatchdog();
        this.setStatus("connected");
        break;
      case "event":
        if (this.lastPosition === null || msg.position <= this.lastPosition) return; // seen already
        this.lastPosition = msg.position;
        break;
      case "resumed":
        if (this.lastPosition === null || msg.position > this.lastPosition) this.lastPosition = msg.position;
        this.attempt = 0;
        this.startPing();
        this.setStatus("connected");
        break;
      default:
        break;
    }
    this.options.onMessage(msg);
  }

  private closed(code: number, opened: boolean): void {
    if (this.stopped) return;
    const final = FINAL[code];
    if (final) {
      this.finish(final);
      return;
    }
    if (this.status === "offline") return;
    const expired =
      code === TOKEN_EXPIRED ||
      // A 401 at the upgrade is invisible to a browser: a socket that never opened past the
      // token's expiry is taken as one.
      (!opened && this.access.expiresAt !== undefined && Date.parse(this.access.expiresAt) <= Date.now());
    this.setStatus("reconnecting");
    if (expired && this.options.renew) {
      void this.renewAndOpen();
      return;
    }
    this.scheduleRetry();
  }

  private async renewAndOpen(): Promise<void> {
    try {
      this.access = await this.options.renew!();
    } catch (err) {
      if (this.stopped) return;
      const status = (err as { status?: unknown } | null)?.status;
      if (typeof status === "number" && status >= 400 && status < 500 && status !== 429) {
        // The server says no (session over, no longer a member): coming back cannot help.
        this.finish("renew_failed");
        return;
      }
      this.scheduleRetry(); // e.g. network down: try again later
      return;
    }
    if (!this.stopped && this.status !== "offline") this.open();
  }

  /** 250 ms doubling to 5 s, each delay scaled by 0.8-1.2 so clients do not come back in step. */
  nextDelay(): number {
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(base * (0.8 + 0.4 * this.random()));
  }

  private scheduleRetry(): void {
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, this.nextDelay());
  }

  private startPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify({ type: "ping" }));
    }, this.heartbeat.intervalMs);
  }

  private armWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      // Nothing heard for the whole timeout: the socket may look open but is dead (e.g. a cut
      // cable without a FIN). Drop it and come back with `resume`.
      const dead = this.socket;
      if (!dead) return;
      this.dropSocket(CLIENT_TIMEOUT, "heartbeat timeout");
      this.clearTimers();
      this.setStatus("reconnecting");
      this.scheduleRetry();
    }, this.heartbeat.timeoutMs);
  }

  /** Detaches and closes the current socket so its late events are ignored. */
  private dropSocket(code: number, reason: string): void {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onmessage = socket.onclose = socket.onerror = null;
    const close = () => {
      try {
        socket.close(code, reason);
      } catch {
        // already closing
      }
    };
    if (socket.readyState === CONNECTING) {
      // Closing a socket that is still connecting makes browsers log an error: close it once open.
      socket.onopen = close;
    } else {
      socket.onopen = null;
      close();
    }
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private clearTimers(): void {
    this.clearRetry();
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.watchdog) clearTimeout(this.watchdog);
    this.pingTimer = null;
    this.watchdog = null;
  }

  private handleOffline = (): void => {
    if (this.stopped) return;
    this.dropSocket(1000, "offline");
    this.clearTimers();
    this.setStatus("offline");
  };

  private handleOnline = (): void => {
    if (this.stopped || this.status !== "offline") return;
    this.attempt = 0;
    this.setStatus("reconnecting");
    this.open();
  };
}
