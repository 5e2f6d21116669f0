"""schemathesis hooks for the LiveSurgery run (.ci/schemathesis.sh loads this file).

WHIP and WHEP take their SDP offer as `application/sdp`, a media type schemathesis has no
serializer for: send the generated string as UTF-8 text, as a client would.
"""

import schemathesis


@schemathesis.serializer("application/sdp")
def sdp(ctx, value):
    if isinstance(value, bytes):
        return {"data": value}
    return {"data": str(value).encode("utf-8")}
