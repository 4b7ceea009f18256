/*{
  "ISFVSN": "2",
  "DESCRIPTION": "A point on a Lissajous path around centre, leaving a fading trail (a persistent buffer fed back into itself), tinted by /layer/4/color.",
  "CREDIT": "hana examples",
  "CATEGORIES": ["Generator"],
  "INPUTS": [
    { "NAME": "tint", "TYPE": "color", "DEFAULT": [1.0, 0.5, 0.1, 1.0] },
    { "NAME": "speed", "TYPE": "float", "DEFAULT": 1, "MIN": 0, "MAX": 4 },
    { "NAME": "centre", "TYPE": "point2D", "DEFAULT": [0.5, 0.5] },
    { "NAME": "fade", "TYPE": "bool", "DEFAULT": true }
  ],
  "PASSES": [
    { "TARGET": "trail", "PERSISTENT": true },
    {}
  ]
}*/

void main() {
  if (PASSINDEX == 0) {
    vec2 aspect = vec2(RENDERSIZE.x / RENDERSIZE.y, 1.0);
    vec2 at = centre + 0.3 * vec2(cos(TIME * speed * 1.7), sin(TIME * speed * 2.3));
    float dot = 1.0 - smoothstep(0.01, 0.03, length((isf_FragNormCoord - at) * aspect));
    float kept = fade ? max(0.0, IMG_THIS_PIXEL(trail).r * 0.96 - 0.004) : IMG_THIS_PIXEL(trail).r;
    gl_FragColor = vec4(max(kept, dot), 0.0, 0.0, 1.0);
  } else {
    gl_FragColor = vec4(tint.rgb * IMG_THIS_PIXEL(trail).r, 1.0);
  }
}
