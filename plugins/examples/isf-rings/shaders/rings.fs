/*{
  "ISFVSN": "2",
  "DESCRIPTION": "Rings moving out from the centre, tinted by /layer/4/color; /strobe flashes them white and the flash fades over about half a second (kept in a persistent buffer).",
  "CREDIT": "hana examples",
  "CATEGORIES": ["Generator"],
  "INPUTS": [
    { "NAME": "flash", "TYPE": "event" },
    { "NAME": "tint", "TYPE": "color", "DEFAULT": [0.2, 0.6, 1.0, 1.0] },
    { "NAME": "count", "TYPE": "long", "VALUES": [4, 8, 16], "LABELS": ["few", "some", "many"], "DEFAULT": 8 }
  ],
  "PASSES": [
    { "TARGET": "level", "PERSISTENT": true },
    {}
  ]
}*/

void main() {
  if (PASSINDEX == 0) {
    // The flash level, the same in every pixel: 1 on the frame of a hit, then fading.
    float previous = IMG_THIS_PIXEL(level).r;
    gl_FragColor = vec4(flash ? 1.0 : max(0.0, previous * 0.9 - 0.01), 0.0, 0.0, 1.0);
  } else {
    float l = IMG_THIS_PIXEL(level).r;
    vec2 d = (isf_FragNormCoord - 0.5) * vec2(RENDERSIZE.x / RENDERSIZE.y, 1.0);
    float ring = 0.5 + 0.5 * cos(length(d) * float(count) * 6.2831853 - TIME * 3.0);
    ring = smoothstep(0.55, 1.0, ring);
    gl_FragColor = vec4(clamp(tint.rgb * ring + vec3(l), 0.0, 1.0), 1.0);
  }
}
