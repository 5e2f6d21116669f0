// Chat, questions to the host and raised hands, in the workspace's side panel: three tabs, each
// a list and a short form. The host also marks questions answered, lowers hands, and sets who
// may draw or chat. Plain text only; `@name` mentions highlighted, and the message for the
// person it mentions stands out.
import { useEffect, useId, useRef, useState } from "react";
import type { FormEvent, KeyboardEvent, ReactNode } from "react";
import { Badge, Button } from "../components/ui";
import { messageParts, type Mentionable } from "./mentions";
import type { TeachingState } from "./state";
import { LIMITS, type TeachingSettingsChangedData } from "./types";

type Tab = "chat" | "questions" | "hands";

const clock = (rfc3339: string) => {
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
};

/** "1st", "2nd", … for the queue. */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${suffix}`;
}

export function TeachingPanel({
  teaching,
  me,
  people,
  nameOf,
  isHost,
  mayChat,
  observerChatOff,
  mayTakePart,
  onPost,
  onAsk,
  onAnswer,
  onRaise,
  onLower,
  onSettings,
}: {
  teaching: TeachingState;
  /** This user's id. */
  me: string;
  people: readonly Mentionable[];
  nameOf: (userId: string) => string;
  isHost: boolean;
  /** Whether this person may post now (observer chat may be off). */
  mayChat: boolean;
  /** This person is an observer and the host turned observer chat off. */
  observerChatOff: boolean;
  /** Whether the session takes questions and hands now (it is live). */
  mayTakePart: boolean;
  onPost: (text: string) => boolean;
  onAsk: (text: string) => boolean;
  onAnswer: (questionId: string) => void;
  onRaise: () => void;
  onLower: (userId?: string) => void;
  onSettings: (patch: TeachingSettingsChangedData) => void;
}) {
  const [tab, setTab] = useState<Tab>("chat");
  const base = useId();
  // Messages that came while another tab was open.
  const [readChat, setReadChat] = useState(teaching.chat.length);
  useEffect(() => {
    if (tab === "chat") setReadChat(teaching.chat.length);
  }, [tab, teaching.chat.length]);
  const unread = Math.max(0, teaching.chat.length - readChat);
  const open = teaching.questions.filter((q) => q.answered_at === null).length;

  const tabs: { id: Tab; label: string; count: number }[] = [
    { id: "chat", label: "Chat", count: unread },
    { id: "questions", label: "Questions", count: open },
    { id: "hands", label: "Hands", count: teaching.hands.length },
  ];
  const onTabKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const at = tabs.findIndex((t) => t.id === tab);
    const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    const next = tabs[(at + step + tabs.length) % tabs.length]!;
    setTab(next.id);
    document.getElementById(`${base}-tab-${next.id}`)?.focus();
  };

  return (
    <section aria-label="Chat, questions and hands" data-testid="teaching-panel" className="flex min-h-0 flex-col gap-2">
      <div role="tablist" aria-label="Chat, questions and hands" className="flex gap-1" onKeyDown={onTabKey}>
        {tabs.map((t) => (
          <button
            key={t.id}
            id={`${base}-tab-${t.id}`}
            type="button"
            role="tab"
            aria-selected={tab === t.id}
            // Only the chosen tab's panel exists: the others control nothing yet.
            aria-controls={tab === t.id ? `${base}-panel-${t.id}` : undefined}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setTab(t.id)}
            className={`flex-1 rounded px-1.5 py-1 text-xs font-medium ${tab === t.id ? "bg-slate-700 text-white" : "text-slate-300 hover:bg-slate-800"}`}
          >
            {t.label}
            {t.count > 0 && (
              <span className="ml-1 rounded-full bg-sky-800 px-1.5 text-[0.7rem] text-sky-50" data-testid={`tab-count-${t.id}`}>
                {t.count}
              </span>
            )}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${base}-panel-${tab}`} aria-labelledby={`${base}-tab-${tab}`} className="flex min-h-0 flex-col gap-2">
        {tab === "chat" ? (
          <Chat teaching={teaching} me={me} people={people} nameOf={nameOf} mayChat={mayChat} chatOff={observerChatOff} onPost={onPost} />
        ) : tab === "questions" ? (
          <Questions teaching={teaching} me={me} nameOf={nameOf} isHost={isHost} mayAsk={mayTakePart} onAsk={onAsk} onAnswer={onAnswer} />
        ) : (
          <Hands teaching={teaching} me={me} nameOf={nameOf} isHost={isHost} mayRaise={mayTakePart} onRaise={onRaise} onLower={onLower} />
        )}
      </div>
      {isHost && <HostSettings teaching={teaching} onSettings={onSettings} />}
    </section>
  );
}

/** A text box with its limit shown, sent with the button or Enter (Shift+Enter: a new line). */
function Composer({
  label,
  limit,
  disabled,
  reason,
  placeholder,
  hint,
  submit,
  onSend,
}: {
  label: string;
  limit: number;
  disabled: boolean;
  /** Why it is disabled, said in place of the box. */
  reason?: string;
  placeholder?: string;
  hint?: ReactNode;
  submit: string;
  onSend: (text: string) => boolean;
}) {
  const id = useId();
  const [text, setText] = useState("");
  const length = [...text].length;
  const over = length > limit;
  const send = (e?: FormEvent) => {
    e?.preventDefault();
    if (disabled || over || !text.trim()) return;
    if (onSend(text)) setText("");
  };
  if (disabled && reason) {
    return (
      <p role="status" className="rounded border border-slate-700 bg-slate-900 px-2 py-1.5 text-xs text-slate-300">
        {reason}
      </p>
    );
  }
  return (
    <form onSubmit={send} className="flex flex-col gap-1">
      <label htmlFor={id} className="sr-only">
        {label}
      </label>
      <textarea
        id={id}
        rows={2}
        value={text}
        disabled={disabled}
        placeholder={placeholder}
        aria-describedby={`${id}-count${hint ? ` ${id}-hint` : ""}`}
        aria-invalid={over || undefined}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) send(e);
        }}
        className="resize-y rounded border border-slate-600 bg-slate-900 px-2 py-1 text-sm text-slate-100 placeholder:text-slate-400"
      />
      <div className="flex items-center gap-2 text-xs">
        <span id={`${id}-count`} className={over ? "text-rose-300" : "text-slate-400"}>
          {length}/{limit}
          {over ? " (too long)" : ""}
        </span>
        <Button type="submit" className="ml-auto px-2! py-0.5! text-xs" disabled={disabled || over || !text.trim()}>
          {submit}
        </Button>
      </div>
      {hint && (
        <p id={`${id}-hint`} className="text-xs text-slate-400">
          {hint}
        </p>
      )}
    </form>
  );
}

/** Keeps a list scrolled to its newest item while the reader is at the bottom. */
function useStickToBottom(count: number) {
  const ref = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [count]);
  return ref;
}

function Chat({
  teaching,
  me,
  people,
  nameOf,
  mayChat,
  chatOff,
  onPost,
}: {
  teaching: TeachingState;
  me: string;
  people: readonly Mentionable[];
  nameOf: (userId: string) => string;
  mayChat: boolean;
  chatOff: boolean;
  onPost: (text: string) => boolean;
}) {
  const list = useStickToBottom(teaching.chat.length);
  return (
    <>
      {teaching.chat.length === 0 ? (
        <p className="text-xs text-slate-400">No messages yet.</p>
      ) : (
        <ol ref={list} aria-label="Chat messages" data-testid="chat-messages" className="flex max-h-64 flex-col gap-1.5 overflow-y-auto" tabIndex={0}>
          {teaching.chat.map((m) => {
            const mentionsMe = m.mentions.includes(me);
            return (
              <li
                key={m.message_id}
                data-testid="chat-message"
                data-mentions-me={mentionsMe ? "true" : undefined}
                className={`rounded px-1.5 py-1 text-sm ${mentionsMe ? "border-l-4 border-amber-400 bg-amber-950/60" : "bg-slate-900"}`}
              >
                <div className="flex items-baseline gap-1.5 text-xs">
                  <span className="font-semibold text-slate-100">{m.user_id === me ? "You" : nameOf(m.user_id)}</span>
                  <time dateTime={m.posted_at} className="text-slate-400">
                    {clock(m.posted_at)}
                  </time>
                  {mentionsMe && <span className="sr-only">(mentions you)</span>}
                </div>
                <p className="whitespace-pre-wrap break-words text-slate-200">
                  {messageParts(m.text, m.mentions, people).map((part, i) =>
                    part.user_id ? (
                      <mark
                        key={i}
                        data-testid="mention"
                        className={`rounded px-0.5 ${part.user_id === me ? "bg-amber-300 text-slate-950" : "bg-sky-900 text-sky-50"}`}
                      >
                        {part.text}
                      </mark>
                    ) : (
                      <span key={i}>{part.text}</span>
                    ),
                  )}
                </p>
              </li>
            );
          })}
        </ol>
      )}
      <Composer
        label="Chat message"
        limit={LIMITS.chatChars}
        disabled={!mayChat}
        reason={chatOff ? "The host has turned chat off for observers." : "Chat opens when the session is live."}
        placeholder="Message everyone"
        hint="Type @ and a username to mention someone."
        submit="Send"
        onSend={onPost}
      />
    </>
  );
}

function Questions({
  teaching,
  me,
  nameOf,
  isHost,
  mayAsk,
  onAsk,
  onAnswer,
}: {
  teaching: TeachingState;
  me: string;
  nameOf: (userId: string) => string;
  isHost: boolean;
  mayAsk: boolean;
  onAsk: (text: string) => boolean;
  onAnswer: (questionId: string) => void;
}) {
  const list = useStickToBottom(teaching.questions.length);
  return (
    <>
      {teaching.questions.length === 0 ? (
        <p className="text-xs text-slate-400">No questions yet.</p>
      ) : (
        <ol ref={list} aria-label="Questions" data-testid="questions" className="flex max-h-64 flex-col gap-1.5 overflow-y-auto" tabIndex={0}>
          {teaching.questions.map((q) => (
            <li key={q.question_id} data-testid="question" data-answered={q.answered_at ? "true" : "false"} className="rounded bg-slate-900 px-1.5 py-1 text-sm">
              <div className="flex flex-wrap items-center gap-1.5 text-xs">
                <span className="font-semibold text-slate-100">{q.user_id === me ? "You" : nameOf(q.user_id)}</span>
                <time dateTime={q.asked_at} className="text-slate-400">
                  {clock(q.asked_at)}
                </time>
                {q.answered_at ? <Badge tone="emerald">answered</Badge> : <Badge tone="amber">open</Badge>}
              </div>
              <p className="whitespace-pre-wrap break-words text-slate-200">{q.text}</p>
              {isHost && q.answered_at === null && (
                <Button variant="secondary" className="mt-1 px-2! py-0.5! text-xs" onClick={() => onAnswer(q.question_id)}>
                  Mark answered
                </Button>
              )}
            </li>
          ))}
        </ol>
      )}
      <Composer
        label="Your question"
        limit={LIMITS.questionChars}
        disabled={!mayAsk}
        reason="Questions open when the session is live."
        placeholder="Ask the host"
        submit="Ask"
        onSend={onAsk}
      />
    </>
  );
}

function Hands({
  teaching,
  me,
  nameOf,
  isHost,
  mayRaise,
  onRaise,
  onLower,
}: {
  teaching: TeachingState;
  me: string;
  nameOf: (userId: string) => string;
  isHost: boolean;
  mayRaise: boolean;
  onRaise: () => void;
  onLower: (userId?: string) => void;
}) {
  const place = teaching.hands.findIndex((h) => h.user_id === me);
  const raised = place >= 0;
  return (
    <>
      <div className="flex flex-wrap items-center gap-2">
        <Button variant={raised ? "secondary" : "primary"} disabled={!mayRaise} aria-pressed={raised} onClick={() => (raised ? onLower() : onRaise())}>
          {raised ? "Lower my hand" : "Raise my hand"}
        </Button>
        {raised && <span className="text-xs text-slate-300">You are {ordinal(place + 1)} in the queue.</span>}
      </div>
      {teaching.hands.length === 0 ? (
        <p className="text-xs text-slate-400">No hands raised.</p>
      ) : (
        <ol aria-label="Raised hands, in order" data-testid="hands" className="flex flex-col gap-1">
          {teaching.hands.map((h, i) => (
            <li key={h.user_id} data-testid="hand" data-user-id={h.user_id} className="flex items-center gap-1.5 rounded bg-slate-900 px-1.5 py-1 text-sm">
              <span className="text-xs text-slate-400">{i + 1}.</span>
              <span className="min-w-0 flex-1 truncate text-slate-100">{h.user_id === me ? "You" : nameOf(h.user_id)}</span>
              <time dateTime={h.raised_at} className="text-xs text-slate-400">
                {clock(h.raised_at)}
              </time>
              {isHost && h.user_id !== me && (
                <Button variant="secondary" className="px-2! py-0.5! text-xs" aria-label={`Lower the hand of ${nameOf(h.user_id)}`} onClick={() => onLower(h.user_id)}>
                  Lower
                </Button>
              )}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}

const FADE_CHOICES = [4000, 8000, 15_000, 30_000, 60_000, 300_000];

function HostSettings({ teaching, onSettings }: { teaching: TeachingState; onSettings: (patch: TeachingSettingsChangedData) => void }) {
  const s = teaching.settings;
  const fades = FADE_CHOICES.includes(s.stroke_fade_ms) ? FADE_CHOICES : [...FADE_CHOICES, s.stroke_fade_ms].sort((a, b) => a - b);
  return (
    <details className="rounded border border-slate-700 px-2 py-1 text-xs" data-testid="teaching-settings">
      <summary className="cursor-pointer select-none text-slate-300">Teaching settings (host)</summary>
      <div className="mt-1 flex flex-col gap-1.5 text-slate-200">
        <label className="flex items-center gap-1.5">
          <input type="checkbox" checked={s.observers_may_annotate} onChange={(e) => onSettings({ observers_may_annotate: e.target.checked })} />
          Observers may draw
        </label>
        <label className="flex items-center gap-1.5">
          <input type="checkbox" checked={s.observer_chat} onChange={(e) => onSettings({ observer_chat: e.target.checked })} />
          Observers may chat
        </label>
        <label className="flex items-center gap-1.5">
          Strokes fade after
          <select
            value={s.stroke_fade_ms}
            onChange={(e) => onSettings({ stroke_fade_ms: Number(e.target.value) })}
            className="rounded border border-slate-600 bg-slate-900 px-1 py-0.5 text-slate-100"
          >
            {fades.map((ms) => (
              <option key={ms} value={ms}>
                {ms >= 60_000 ? `${ms / 60_000} min` : `${ms / 1000} s`}
              </option>
            ))}
          </select>
        </label>
      </div>
    </details>
  );
}
