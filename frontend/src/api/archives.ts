// Recording control and the archives API (issue 14), typed by hand from the contract
// (/work/recording-contract.md, "Archives API") while the server's endpoints are being written.
// TODO(issue 14): replace these types with the generated ones (`Schemas["Archive"]`, …) and
// `archiveHttp` with `http` once the endpoints are in schemas/openapi.json and `npm run
// gen:types` has run; the functions below keep their signatures.
import type { Client } from "openapi-fetch";
import { call, http } from "./client";

/** Where an archive is in its life. */
export type ArchiveStatus = "recording" | "processing" | "ready" | "incomplete" | "failed" | "expired";

export const ARCHIVE_STATUSES: readonly ArchiveStatus[] = ["recording", "processing", "ready", "incomplete", "failed", "expired"];

/** One recorded source of one recording (`GET /v1/archives/{id}`). */
export interface Archive {
  id: string;
  session_id: string;
  /** The source label (`endoscope`, `room-cam`). */
  source: string;
  status: ArchiveStatus;
  /** RFC 3339: when the recorder began storing this source. */
  started_at: string;
  /** RFC 3339: when its recording ended; null while recording. */
  ended_at: string | null;
  duration_ms: number | null;
  bytes: number | null;
  content_type: string | null;
  expires_at: string;
  legal_hold: boolean;
  recording_id: string;
  segments: number;
  /** 0..1 while `processing` (null when the server cannot tell); null otherwise. */
  progress: number | null;
}

export interface ArchivePage {
  items: Archive[];
  next_cursor: string | null;
}

/** `GET /v1/archives/{id}/playback`: a short-lived URL a `<video>` opens without headers. */
export interface Playback {
  url: string;
  content_type: string;
  expires_at: string;
}

/** The answer to `recordings:start` and `recordings:stop`. */
export interface RecordingAnswer {
  recording_id: string;
  position: number;
}

/** What the join answer and the WebSocket `welcome` say about recording. */
export interface RecordingFlag {
  active: boolean;
  recording_id: string | null;
}

/** `PATCH /v1/archives/{id}` (admins): what to change; at least one field. */
export interface RetentionPatch {
  expires_at?: string;
  legal_hold?: boolean;
}

type Json<T> = { content: { "application/json": T } };
type ErrorAnswer = { headers: { [name: string]: unknown } } & Json<unknown>;
type Op<Path, Query, Answer> = {
  parameters: { query?: Query; header?: never; path: Path; cookie?: never };
  requestBody?: never;
  responses: { 200: { headers: { [name: string]: unknown } } & Json<Answer>; default: ErrorAnswer };
};
type Id = { id: string };
type Post<Answer> = { post: Op<Id, never, Answer> };

/** The endpoints of the contract, in openapi-typescript's shape. */
interface ArchivePaths {
  "/v1/sessions/{id}/recordings:start": Post<RecordingAnswer>;
  "/v1/sessions/{id}/recordings:stop": Post<RecordingAnswer>;
  "/v1/sessions/{id}/archives": { get: Op<Id, { limit?: number; cursor?: string }, ArchivePage> };
  "/v1/archives/{id}": {
    get: Op<Id, never, Archive>;
    patch: Omit<Op<Id, never, Archive>, "requestBody"> & { requestBody: Json<RetentionPatch> };
  };
  "/v1/archives/{id}/playback": { get: Op<Id, never, Playback> };
}

// The same client (base URL, bearer token, refresh-and-retry), typed with the paths above.
const archiveHttp = http as unknown as Client<ArchivePaths>;

/** `POST /v1/sessions/{id}/recordings:start` (hosts, session surgeons, admins). */
export async function startRecording(sessionId: string): Promise<RecordingAnswer> {
  const { data } = await call(() =>
    archiveHttp.POST("/v1/sessions/{id}/recordings:start", { params: { path: { id: sessionId } } }),
  );
  return data;
}

/** `POST /v1/sessions/{id}/recordings:stop`. */
export async function stopRecording(sessionId: string): Promise<RecordingAnswer> {
  const { data } = await call(() =>
    archiveHttp.POST("/v1/sessions/{id}/recordings:stop", { params: { path: { id: sessionId } } }),
  );
  return data;
}

/** One page of a session's archives. */
export async function listArchives(sessionId: string, cursor: string | null = null, limit = 50): Promise<ArchivePage> {
  const query = cursor ? { limit, cursor } : { limit };
  const { data } = await call(() =>
    archiveHttp.GET("/v1/sessions/{id}/archives", { params: { path: { id: sessionId }, query } }),
  );
  if (!Array.isArray(data?.items)) throw new Error("The server's list of archives has no items.");
  return { items: data.items, next_cursor: data.next_cursor ?? null };
}

/** Every archive of a session, following `next_cursor` (at most `maxPages` pages). */
export async function listAllArchives(sessionId: string, maxPages = 20): Promise<Archive[]> {
  const out: Archive[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < maxPages; page++) {
    const answer: ArchivePage = await listArchives(sessionId, cursor, 200);
    out.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return out;
}

/** `GET /v1/archives/{id}`. */
export async function getArchive(id: string): Promise<Archive> {
  const { data } = await call(() => archiveHttp.GET("/v1/archives/{id}", { params: { path: { id } } }));
  return data;
}

/** A fresh playback URL (each call is audited as `ArchiveAccessed`). */
export async function getPlayback(id: string): Promise<Playback> {
  const { data } = await call(() => archiveHttp.GET("/v1/archives/{id}/playback", { params: { path: { id } } }));
  return data;
}

/** `PATCH /v1/archives/{id}` (admins): the archive as changed. */
export async function setRetention(id: string, patch: RetentionPatch): Promise<Archive> {
  const { data } = await call(() => archiveHttp.PATCH("/v1/archives/{id}", { params: { path: { id } }, body: patch }));
  return data;
}

/** An archive that is still changing: its status or progress will move without anyone acting. */
export function isActive(archive: Archive): boolean {
  return archive.status === "recording" || archive.status === "processing";
}

/** Reads the contract's `recording` field of a join answer or welcome, if the server sent it. */
export function recordingFlagOf(message: object): RecordingFlag | null {
  const flag = (message as { recording?: unknown }).recording;
  if (!flag || typeof flag !== "object" || !("active" in flag) || typeof flag.active !== "boolean") return null;
  const id = (flag as { recording_id?: unknown }).recording_id;
  return { active: flag.active, recording_id: typeof id === "string" ? id : null };
}
