/*{
  "ISFVSN": "2",
  "DESCRIPTION": "A plasma of four sine fields drifting with TIME; its hue turned by /layer/3/hue and tinted by /layer/3/color.",
  "CREDIT": "hana examples",
  "CATEGORIES": ["Generator"],
  "INPUTS": [
    { "NAME": "hue", "TYPE": "float", "DEFAULT": 0, "MIN": 0, "MAX": 360 },
    { "NAME": "tint", "TYPE": "color", "DEFAULT": [1, 1, 1, 1] },
    { "NAME": "scale", "TYPE": "float", "DEFAULT": 6, "MIN": 1, "MAX": 20 }
  ]
}*/

// hue, saturation, value (all 0-1) to rgb.
vec3 hsv2rgb(vec3 c) {
  vec3 p = abs(fract(c.xxx + vec3(1.0, 2.0 / 3.0, 1.0 / 3.0)) * 6.0 - 3.0);
  return c.z * mix(vec3(1.0), clamp(p - 1.0, 0.0, 1.0), c.y);
}

void main() {
  vec2 p = isf_FragNormCoord * scale;
  float v = sin(p.x + TIME)
    + sin(p.y * 0.8 + TIME * 1.3)
    + sin((p.x + p.y) * 0.7 + TIME * 0.7)
    + sin(length(p - vec2(scale * 0.5)) * 1.5 - TIME * 2.0);
  float h = fract(v * 0.125 + hue / 360.0);
  vec3 rgb = hsv2rgb(vec3(h, 0.8, 0.55 + 0.45 * sin(v * 1.5707963)));
  gl_FragColor = vec4(rgb * tint.rgb, 1.0);
}
