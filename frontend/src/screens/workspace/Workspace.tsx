// The OR workspace of a live session: join, then one WebSocket keeps the panel grid, presence
// and session status the same as every other participant's. Every layout change goes to the
// server; what is drawn is what the server's events say (plus this client's pending moves).
// The socket's side lives in useWorkspaceSocket; this file draws it and wires in the media.
import { useEffect, useMemo, useRef, useState } from "react";
import type { KeyboardEvent } from "react";
import { Link, useParams } from "react-router";
import { ApiError } from "../../api/client";
import { nameOf, useDirectory } from "../../api/directory";
import { Alert, Badge, Button, messageOf } from "../../components/ui";
import type { MediaOptions, SessionMedia } from "../../media/types";
import { recordingFlagOf } from "../../api/archives";
import { RecordingControl } from "../../components/RecordingControl";
import { RecordingIndicator } from "../../components/RecordingIndicator";
import { canEditLayout, canRecord, isRecording, sourcesInUse } from "../../realtime/sessionState";
import { ConnectionIndicator } from "./ConnectionIndicator";
import { EndSessionControl } from "./EndSessionControl";
import { LeaveGuard } from "./LeaveGuard";
import { usePublishMemory } from "./publishMemory";
import { ResumeBanner } from "./ResumeOffer";
import { keyboardRect } from "./grid";
import { useToasts } from "../../components/Toasts";
import { useSessionMedia } from "../../media";
import { PanelCard } from "./PanelCard";
import { PanelFeed } from "./PanelFeed";
import { useFeedHealth, withServerStalls } from "./feedHealth";
import { Presence } from "./Presence";
import { PublishControl } from "./PublishControl";
import { joinSession, useWorkspaceSocket, type Connect, type Joined } from "./useWorkspaceSocket";
import { WorkspaceGrid, type GridPanel } from "./WorkspaceGrid";
import { firstOverlap, frontZ, gridFullReason } from "./panelLayout";
import { isPersonal, PersonalLayout } from "./PersonalLayout";
import { ShortcutsDialog } from "./ShortcutsDialog";
import { UndoRemovalBar } from "./UndoRemovalBar";
import { usePersonalView } from "./usePersonalView";
import { useShortcuts } from "./useShortcuts";
import { useUndoRemoval } from "./useUndoRemoval";
import { ViewControls } from "./ViewControls";
import { DrawToolbar } from "../../teaching/DrawToolbar";
import { isTeachingHost, mayAnnotate, mayChat, mayTakePart } from "../../teaching/state";
import { TeachingPanel } from "../../teaching/TeachingPanel";
import { TelestrationOverlay } from "../../teaching/TelestrationOverlay";
import { usePointerTrails } from "../../teaching/usePointerTrails";
import { useTeaching } from "../../teaching/useTeaching";
import type { ChatMessagePostedData } from "../../teaching/types";
import type { AckMessage, ErrorMessage } from "../../api/generated/ws";

export type { Connect, ConnectionLike } from "./useWorkspaceSocket";

export function Workspace({ connect }: { connect?: Connect } = {}) {
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

function WorkspaceView({ sessionId, initial, connect }: { sessionId: string; initial: Joined; connect?: Connect }) {
  const directory = useDirectory();
  // On a phone-sized screen the participants start hidden: the videos get the screen.
  const [sideOpen, setSideOpen] = useState(() => typeof window.matchMedia !== "function" || window.matchMedia("(min-width: 768px)").matches);
  // The media layer follows the socket's events but is made after it (it needs the socket's join).
  const mediaEvents = useRef<SessionMedia["onSessionEvent"]>(() => {});
  const feeds = useFeedHealth();
  const pointers = usePointerTrails();
  // The teaching writes are made after the socket (they send on it); it tells them its answers.
  const teachingReply = useRef<(msg: AckMessage | ErrorMessage) => void>(() => {});
  const { push } = useToasts();
  const {
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
  } = useWorkspaceSocket({
    sessionId,
    initial,
    connect,
    directory,
    onSessionEvent: (eventType, data, event) => {
      mediaEvents.current(eventType, data);
      feeds.onEvent(eventType, data);
      pointers.onEvent(event);
      noticeTeaching(eventType, data, event.actor.user_id);
    },
    onReply: (msg) => teachingReply.current(msg),
  });

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
  mediaEvents.current = media.onSessionEvent;
  const health = useMemo(() => withServerStalls(feeds.health, media.sourceStalledSince), [feeds.health, media.sourceStalledSince]);

  // Teaching (issue 21): drawing on the panels, chat, questions and hands.
  const people = useMemo(
    () =>
      state.members.map((m) => ({
        user_id: m.user_id,
        username: directory.get(m.user_id)?.username,
        display_name: directory.get(m.user_id)?.display_name,
      })),
    [state.members, directory],
  );
  const teaching = useTeaching({
    teaching: state.teaching,
    userId: state.userId,
    participantId: state.participantId,
    people,
    send: sendTeaching,
  });
  teachingReply.current = teaching.onReply;
  const connected = status === "connected";
  const canDraw = mayAnnotate(state) && connected;
  const teachingHost = isTeachingHost(state);
  const [drawing, setDrawing] = useState(false);
  const drawingOn = drawing && (canDraw || teachingHost);
  const activeTool = drawingOn && canDraw ? teaching.tool : null;
  const startDrawing = () => {
    setDrawing(true);
    if (teaching.tool === null) teaching.setTool("freehand");
  };
  const otherTrails = pointers.trails.filter((t) => t.participant_id !== state.participantId);
  /** Toasts for what asks for this person's attention: a mention; for the host, hands and questions. */
  function noticeTeaching(eventType: string, data: unknown, actor: string | null) {
    if (!actor || actor === state.userId) return;
    const who = nameOf(directory, actor);
    if (eventType === "ChatMessagePosted" && (data as ChatMessagePostedData).mentions?.includes(state.userId)) {
      push(`${who} mentioned you in the chat`, "info");
    } else if (state.role === "host" && eventType === "HandRaised") {
      push(`${who} raised a hand`, "info");
    } else if (state.role === "host" && eventType === "QuestionAsked") {
      push(`${who} asked a question`, "info");
    }
  }
  // Unread chat while the side panel is closed, on its button.
  const chatCount = state.teaching.chat.length;
  const [chatSeen, setChatSeen] = useState<number | null>(null);
  useEffect(() => {
    // What the snapshot brought counts as seen; then what came while the panel was open.
    if (sideOpen || (chatSeen === null && state.ready)) setChatSeen(chatCount);
  }, [sideOpen, chatCount, state.ready]);
  const unreadChat = chatSeen === null ? 0 : Math.max(0, chatCount - chatSeen);

  const panels = state.layout.panels;
  const personal = usePersonalView(
    sessionId,
    panels.map((p) => p.id),
  );
  // What this viewer watches in a panel: its own pick, else the shared source.
  const watched = (p: { id: string; source_id: string | null }): string | null => personal.view.sources[p.id] ?? p.source_id;
  const wanted = sourcesInUse(panels.map((p) => ({ ...p, source_id: watched(p) })));
  const wantedKey = wanted.join("\n");
  useEffect(() => {
    media.setWanted(wantedKey === "" ? [] : wantedKey.split("\n"));
    // `media` may change identity with every render of the media layer; the wanted set is what matters.
  }, [wantedKey]);

  const editable = canEditLayout(state) && status !== "closed" && state.status === "live";
  // Until the welcome, the join answer says whether the session is being recorded.
  const recording = state.ready ? isRecording(state) : (recordingFlagOf(joined.join)?.active ?? false);

  const [endedHere, setEndedHere] = useState(false);
  const ended = state.status === "ended" || state.status === "cancelled" || closeReason === "ended" || endedHere;
  const mayPublish = state.ready && state.permissions.includes("publish") && state.status === "live" && !ended;
  const resumeOffer = usePublishMemory(sessionId, media, ended);
  const publishing = media.published.filter((p) => p.state !== "failed").map((p) => p.source);

  const onKey = (id: string) => (e: KeyboardEvent<HTMLButtonElement>) => {
    const current = shown.find((p) => p.id === id);
    if (!current || !e.key.startsWith("Arrow")) return;
    e.preventDefault();
    const rect = keyboardRect(current, e.key, e.shiftKey);
    // A keyboard move never lands on another panel (a drag pushes it aside instead).
    if (rect && !firstOverlap(shown.map((p) => (p.id === id ? { ...p, ...rect } : p)))) move(id, rect);
  };

  const undoRemoval = useUndoRemoval({ panels, remove: removePanel, add: (p) => sendChanges({ add: [p] }) });
  // Who publishes each source, for the source picker (the media layer's list names the user).
  const publisherOf = (source: string): string | null => {
    const user = media.sourcePublishers[source];
    return user ? nameOf(directory, user) : null;
  };
  const fullReason = gridFullReason(shown);
  // Grows when the grid drew a drag that is not written (no room): it redraws from the state.
  const [refusedMoves, setRefusedMoves] = useState(0);
  const bumpGrid = () => setRefusedMoves((n) => n + 1);
  const [showKeys, setShowKeys] = useState(false);
  // f and s act on the panel holding the focus, else the first one showing a source.
  const targetPanel = () => {
    const focused = document.activeElement?.closest(".ls-panel")?.getAttribute("data-testid")?.replace(/^panel-/, "");
    return focused ?? panels.find((p) => p.source_id)?.id ?? panels[0]?.id ?? null;
  };
  useShortcuts({
    "?": () => setShowKeys(true),
    f: () => {
      const id = targetPanel();
      if (id) personal.toggleFullscreen(id);
    },
    s: () => {
      const id = targetPanel();
      if (id) personal.toggleSpotlight(id);
    },
    h: personal.toggleHideEmpty,
    Escape: () => (showKeys ? setShowKeys(false) : drawingOn ? setDrawing(false) : personal.back()),
  });

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
          // A viewer's own pick titles the panel for them (editors see and change the shared one).
          panel={editable ? server : { ...server, source_id: watched(server) }}
          editable={editable}
          sourceOptions={server.source_id && !sourceOptions.includes(server.source_id) ? [...sourceOptions, server.source_id] : sourceOptions}
          contested={flashText}
          onKey={onKey(p.id)}
          onRemove={() => undoRemoval.remove(server)}
          onSelectSource={(s) => selectSource(p.id, s)}
          publisherOf={publisherOf}
          onRename={(name) => sendChanges({ panels: { [p.id]: { name } } })}
          onFront={
            frontZ(panels, p.id) === null ? undefined : () => sendChanges({ panels: { [p.id]: { z: frontZ(panels, p.id) ?? p.z } } })
          }
          viewControls={
            <ViewControls
              panelId={p.id}
              spotlit={personal.view.spotlight === p.id}
              fullscreen={personal.view.fullscreen === p.id}
              onSpotlight={() => personal.toggleSpotlight(p.id)}
              onFullscreen={() => personal.toggleFullscreen(p.id)}
              sourcePick={
                editable
                  ? undefined
                  : {
                      options: media.sessionSources,
                      shared: server.source_id,
                      mine: personal.view.sources[p.id] ?? null,
                      onPick: (s) => personal.pickSource(p.id, s),
                    }
              }
            />
          }
        >
          <PanelFeed
            panelId={p.id}
            source={watched(server)}
            stream={watched(server) ? media.streamFor(watched(server) as string) : null}
            sessionStatus={ended ? "ended" : state.status}
            published={watched(server) !== null && media.sessionSources.includes(watched(server) as string)}
            health={health}
            framesDecoded={media.framesDecoded}
            overlay={
              <TelestrationOverlay
                panelId={p.id}
                sourceId={watched(server)}
                strokes={teaching.strokes}
                trails={otherTrails}
                fadeMs={state.teaching.settings.stroke_fade_ms}
                tool={activeTool}
                color={teaching.color}
                pinned={teaching.pinned}
                onStroke={teaching.drawStroke}
                onPointer={teaching.point}
              />
            }
          />
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
      <div className="flex flex-wrap items-center gap-2 border-b border-slate-800 bg-slate-900/60 px-3 py-2">
        <h1 id="workspace-title" className="mr-2 truncate text-lg font-semibold">
          {state.ready ? state.title : "Workspace"}
        </h1>
        {state.ready && (
          <Badge tone={state.status === "live" ? "emerald" : "slate"}>{state.status}</Badge>
        )}
        <RecordingIndicator active={recording} />
        {state.ready && state.role && <span className="text-sm text-slate-400">You: {state.role}</span>}
        <div className="ml-auto flex flex-wrap items-center gap-2">
          {state.role === "host" && state.status === "live" && !ended && (
            <EndSessionControl sessionId={sessionId} onEnded={() => setEndedHere(true)} />
          )}
          {canRecord(state) && <RecordingControl sessionId={sessionId} active={recording} disabled={status !== "connected"} />}
          {editable && (
            <>
              <Button onClick={addPanel} disabled={fullReason !== null || status !== "connected"} aria-describedby={fullReason ? "grid-full" : undefined}>
                Add panel
              </Button>
              {fullReason && (
                <span id="grid-full" data-testid="grid-full" className="text-sm text-amber-300">
                  {fullReason}
                </span>
              )}
            </>
          )}
          <Button variant="secondary" aria-pressed={personal.view.hideEmpty} onClick={personal.toggleHideEmpty} title="Only for you (h)">
            Hide empty panels
          </Button>
          {isPersonal(personal.view) && (
            <Button variant="secondary" onClick={personal.reset} title="Back to the shared grid (Escape leaves fullscreen, then the spotlight)">
              Shared view
            </Button>
          )}
          {(canDraw || teachingHost) && !ended && (
            <Button
              variant="secondary"
              aria-expanded={drawingOn}
              aria-controls={drawingOn ? "draw-tools" : undefined}
              onClick={() => (drawingOn ? setDrawing(false) : startDrawing())}
              title="Draw or point on the panels' video"
            >
              {drawingOn ? "Stop drawing" : "Draw"}
            </Button>
          )}
          <Button variant="secondary" aria-haspopup="dialog" onClick={() => setShowKeys(true)} title="Keyboard shortcuts (?)">
            Shortcuts
          </Button>
          <Button
            variant="secondary"
            aria-expanded={sideOpen}
            aria-controls="workspace-side"
            onClick={() => setSideOpen((o) => !o)}
          >
            Chat &amp; people
            {!sideOpen && unreadChat > 0 && (
              <span data-testid="chat-unread" className="rounded-full bg-sky-700 px-1.5 text-xs text-white">
                {unreadChat}
                <span className="sr-only"> new</span>
              </span>
            )}
          </Button>
          <ConnectionIndicator status={status} reason={ended && status === "closed" ? "ended" : closeReason} />
          <Link className="text-sm text-sky-300 underline" to={`/sessions/${sessionId}`}>
            Session details
          </Link>
        </div>
      </div>

      <LeaveGuard sources={ended ? [] : publishing} />
      <div className="flex flex-col gap-2 px-3 pt-2 empty:hidden">
        {mayPublish && <ResumeBanner offer={resumeOffer} />}
        {drawingOn && !ended && (
          <DrawToolbar
            tool={teaching.tool}
            onTool={teaching.setTool}
            pinned={teaching.pinned}
            onPinned={teaching.setPinned}
            color={teaching.color}
            mayDraw={canDraw}
            mayClearAll={teachingHost}
            onClear={teaching.clear}
            onClose={() => setDrawing(false)}
          />
        )}
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
        <UndoRemovalBar undo={undoRemoval} />
        {state.ready && !canEditLayout(state) && !ended && (
          <div data-testid="read-only">
            <Alert kind="info">Read-only: you are watching as an observer.</Alert>
          </div>
        )}
        {status === "offline" && !ended && (
          <Alert>You are offline. The workspace will catch up when the network is back.</Alert>
        )}
      </div>

      {/* Narrow screens: the participants below the panels, so the videos get the width. */}
      <div className="flex min-h-0 flex-1 flex-col overflow-y-auto md:flex-row md:overflow-visible">
        <div className="relative min-h-[60vh] min-w-0 flex-1 md:min-h-0">
          {!state.ready ? (
            <p role="status" className="p-6 text-slate-300">
              Connecting to the session…
            </p>
          ) : isPersonal(personal.view) ? (
            <PersonalLayout panels={gridPanels} view={personal.view} />
          ) : (
            <WorkspaceGrid
              key={`${gridEpoch}.${refusedMoves}`}
              panels={gridPanels}
              editable={editable}
              onMoves={moveAll}
              onRefused={() => {
                push("No room for that move: a panel it pushes would leave the grid.", "warning");
                bumpGrid();
              }}
            />
          )}
          <p id="panel-keys-help" className="sr-only">
            Arrow keys move the panel one cell; Shift with Arrow keys resizes it.
          </p>
        </div>
        {sideOpen && (
          <aside
            id="workspace-side"
            className="flex w-full shrink-0 flex-col gap-4 overflow-y-auto border-t border-slate-800 bg-slate-900/40 p-3 md:w-60 md:border-l md:border-t-0 xl:w-72"
          >
            <Presence participants={state.participants} me={state.participantId} directory={directory} />
            {mayPublish && <PublishControl media={media} health={health} />}
            {state.ready && (
              <TeachingPanel
                teaching={state.teaching}
                me={state.userId}
                people={people}
                nameOf={(id) => nameOf(directory, id)}
                isHost={teachingHost && connected}
                mayChat={mayChat(state) && connected && !ended}
                observerChatOff={state.role === "observer" && !state.teaching.settings.observer_chat}
                mayTakePart={mayTakePart(state) && connected && !ended}
                onPost={teaching.post}
                onAsk={teaching.ask}
                onAnswer={teaching.answer}
                onRaise={teaching.raiseHand}
                onLower={teaching.lowerHand}
                onSettings={teaching.changeSettings}
              />
            )}
          </aside>
        )}
      </div>
      {showKeys && <ShortcutsDialog onClose={() => setShowKeys(false)} />}
    </main>
  );
}
