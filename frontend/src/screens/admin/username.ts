// The server's username rule (domain `validate_username`), checked as the admin types and
// explained in words.

export const MIN_USERNAME = 3;
export const MAX_USERNAME = 64;

/** What is wrong with a username, in words; null when it is fine (or still empty). */
export function usernameProblem(username: string): string | null {
  if (username === "") return null;
  const chars = [...username];
  const wrong = [...new Set(chars.filter((c) => !/[a-z0-9._-]/.test(c)))];
  if (wrong.some((c) => /[A-Z]/.test(c))) return "Use lowercase letters only.";
  if (wrong.length > 0) {
    const shown = wrong.map((c) => (c === " " ? "spaces" : `“${c}”`)).join(", ");
    return `Only lowercase letters, digits, dots, underscores and hyphens: not ${shown}.`;
  }
  if (!/[a-z0-9]/.test(chars[0] ?? "")) return "Start with a letter or a digit.";
  if (chars.length < MIN_USERNAME) return `At least ${MIN_USERNAME} characters.`;
  if (chars.length > MAX_USERNAME) return `At most ${MAX_USERNAME} characters.`;
  return null;
}
