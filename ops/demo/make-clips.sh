#!/usr/bin/env bash
# Makes the three synthetic demo clips of `livesurgery serve --demo` into ops/demo/clips/:
# endoscope.webm, room-camera.webm (with Opus audio) and vitals.webm. Synthetic sources only
# (ffmpeg's lavfi and vitals.py); every frame says SYNTHETIC. Needs ffmpeg (libvpx, libopus,
# drawtext) and python3. The clips are embedded in the server (src/demo/clips.rs): run this
# again, then rebuild, to change them.
#
# Each clip is CLIP seconds of VP8 at 640x360, FPS frames a second, a keyframe every second
# (new viewers wait at most that long), no alt-ref frames (each block is one shown frame).
# Every moving part is periodic with a period dividing CLIP, so the last frame leads into the
# first and the server can loop a clip without a visible jump.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")"

CLIP=8
FPS=15
SIZE=640x360
OUT=clips
mkdir -p "$OUT"

font=$(fc-match -f '%{file}' 'DejaVu Sans:bold' 2>/dev/null || true)
[ -f "$font" ] || { echo "make-clips: no font found (install fonts-dejavu-core)" >&2; exit 1; }

vp8=(-c:v libvpx -pix_fmt yuv420p -b:v 450k -maxrate 600k -bufsize 600k -g "$FPS"
     -keyint_min "$FPS" -auto-alt-ref 0 -lag-in-frames 0 -deadline good -cpu-used 2
     -metadata title="LiveSurgery synthetic demo clip (no patient data)")
label() { # text, x, y, size
  echo "drawtext=fontfile=$font:text='$1':x=$2:y=$3:fontsize=$4:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=6"
}
P="2*PI*T/$CLIP" # one turn a clip, for geq (T: seconds)

# Endoscope: a round field of view on tissue-like colours that drift and pulse.
fov="hypot(X-320,Y-180)"
shade="(1-0.55*pow($fov/172,2))"
tissue="sin(X/31+$P)*cos(Y/27-2*$P)+0.6*sin(hypot(X-300-40*sin($P),Y-170-25*cos($P))/13-4*$P)"
glint="exp(-(pow(X-260-60*cos($P),2)+pow(Y-140-30*sin(2*$P),2))/300)"
ffmpeg -hide_banner -loglevel error -y -f lavfi \
  -i "color=c=black:s=$SIZE:r=$FPS:d=$CLIP,format=rgb24,geq=\
r='if(gt($fov,172),0,min(255,$shade*(200+35*($tissue))+255*$glint))':\
g='if(gt($fov,172),0,min(255,$shade*(80+25*($tissue))+230*$glint))':\
b='if(gt($fov,172),0,min(255,$shade*(90+20*($tissue))+230*$glint))',\
$(label 'SYNTHETIC' 12 12 22),$(label 'endoscope demo' 12 330 16),$(label 'not patient data' 480 330 16)" \
  -t "$CLIP" "${vp8[@]}" -an "$OUT/endoscope.webm"

# Room camera: a wall and floor, a table, two figures walking and a blinking light; a soft
# tone with a monitor beep at 75 a minute as its Opus audio.
ffmpeg -hide_banner -loglevel error -y -f lavfi \
  -i "color=c=black:s=$SIZE:r=$FPS:d=$CLIP,format=rgb24,geq=\
r='if(lt(Y,220),70+Y/6,95-(Y-220)/5)':g='if(lt(Y,220),90+Y/6,100-(Y-220)/6)':b='if(lt(Y,220),110+Y/8,105-(Y-220)/6)'" \
  -f lavfi -i "color=c=0x3a6ea5:s=46x120:r=$FPS:d=$CLIP" \
  -f lavfi -i "color=c=0x4e9a64:s=46x120:r=$FPS:d=$CLIP" \
  -f lavfi -i "aevalsrc='0.05*sin(2*PI*220*t)*(0.6+0.4*sin(2*PI*t/$CLIP))+0.12*sin(2*PI*1000*t)*lt(mod(t,0.8),0.07)':s=48000:d=$CLIP" \
  -filter_complex "[0:v]drawbox=x=220:y=200:w=200:h=50:color=0xd8d8d0:t=fill,\
drawbox=x=230:y=250:w=10:h=60:color=0x777777:t=fill,drawbox=x=400:y=250:w=10:h=60:color=0x777777:t=fill,\
drawbox=x=520:y=60:w=90:h=60:color=0x101820:t=fill[room];\
[room][1:v]overlay=x='300+200*sin(2*PI*t/$CLIP)':y='150+6*sin(2*PI*t*4/$CLIP)'[a];\
[a][2:v]overlay=x='260-170*sin(4*PI*t/$CLIP)':y=140[b];\
[b]drawbox=x=540:y=75:w=20:h=20:color=0xff4040:t=fill:enable='lt(mod(t,1),0.5)',\
$(label 'SYNTHETIC' 12 12 22),$(label 'room camera demo' 12 330 16),$(label 'not patient data' 480 330 16)[v]" \
  -map '[v]' -map 3:a -t "$CLIP" "${vp8[@]}" \
  -c:a libopus -b:a 32k -ac 1 -ar 48000 -frame_duration 20 -application audio "$OUT/room-camera.webm"

# Vitals monitor: sweeping ECG, pleth and respiration traces (vitals.py) and their numbers.
python3 vitals.py "$CLIP" "$FPS" | ffmpeg -hide_banner -loglevel error -y \
  -f rawvideo -pix_fmt rgb24 -s "$SIZE" -r "$FPS" -i - \
  -vf "$(label 'SYNTHETIC' 12 6 18),$(label 'vitals demo - not patient data' 150 6 14),\
drawtext=fontfile=$font:text='HR':x=500:y=48:fontsize=16:fontcolor=0x3ce65a,\
drawtext=fontfile=$font:text='%{eif\:74+mod(floor(t/2)\,2)\:d}':x=540:y=58:fontsize=44:fontcolor=0x3ce65a,\
drawtext=fontfile=$font:text='SpO2':x=500:y=168:fontsize=16:fontcolor=0x3cc8eb,\
drawtext=fontfile=$font:text='%{eif\:97+mod(floor(t/4)\,2)\:d}':x=540:y=178:fontsize=44:fontcolor=0x3cc8eb,\
drawtext=fontfile=$font:text='RR':x=500:y=266:fontsize=16:fontcolor=0xebd23c,\
drawtext=fontfile=$font:text='15':x=540:y=276:fontsize=44:fontcolor=0xebd23c" \
  -t "$CLIP" "${vp8[@]}" "$OUT/vitals.webm"

ls -l "$OUT"
