// Answers for tests that stub `fetch`: a JSON body, and the server's error envelope.

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", "X-Request-Id": "req-1", ...headers },
  });
}

export function apiError(status: number, code: string, message: string): Response {
  return json({ error: { code, message, request_id: "req-1" } }, status);
}
