// After a reload: "Resume publishing endoscope, room-cam?", with Resume and Dismiss.
import { useState } from "react";
import { Button } from "../../components/ui";
import type { ResumeOffer } from "./publishMemory";

export function ResumeBanner({ offer }: { offer: ResumeOffer }) {
  const [busy, setBusy] = useState(false);
  if (offer.offered.length === 0) return null;
  const names = offer.offered.map((r) => r.source).join(", ");
  return (
    <section
      role="region"
      aria-label="Resume publishing"
      data-testid="resume-offer"
      className="flex flex-wrap items-center gap-2 rounded border border-amber-500/60 bg-amber-950/40 px-3 py-2 text-sm text-amber-100"
    >
      <p className="mr-auto">
        Resume publishing {names}?{" "}
        <span className="text-amber-200/80">You published {offer.offered.length === 1 ? "it" : "them"} before this page was reloaded.</span>
      </p>
      <Button
        disabled={busy}
        onClick={() => {
          setBusy(true);
          void offer.resume().finally(() => setBusy(false));
        }}
      >
        Resume
      </Button>
      <Button variant="secondary" disabled={busy} onClick={offer.dismiss}>
        Dismiss
      </Button>
    </section>
  );
}
