"use strict";
var plugin = (() => {
  var __defProp = Object.defineProperty;
  var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
  var __getOwnPropNames = Object.getOwnPropertyNames;
  var __hasOwnProp = Object.prototype.hasOwnProperty;
  var __export = (target, all) => {
    for (var name in all)
      __defProp(target, name, { get: all[name], enumerable: true });
  };
  var __copyProps = (to, from, except, desc) => {
    if (from && typeof from === "object" || typeof from === "function") {
      for (let key of __getOwnPropNames(from))
        if (!__hasOwnProp.call(to, key) && key !== except)
          __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
    }
    return to;
  };
  var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);

  // src/index.ts
  var index_exports = {};
  __export(index_exports, {
    frame: () => frame
  });
  var RING = 6;
  var SIDES = 6;
  var num = (v, fallback) => typeof v === "number" && Number.isFinite(v) ? v : fallback;
  function tint(v) {
    if (typeof v !== "string" || !/^#[0-9a-fA-F]{6}/.test(v)) return [1, 1, 1];
    return [1, 3, 5].map((i) => Number.parseInt(v.slice(i, i + 2), 16) / 255);
  }
  var hex2 = (x) => Math.round(Math.min(1, Math.max(0, x)) * 255).toString(16).padStart(2, "0");
  function color(hue, s, l, t) {
    const h = (hue % 360 + 360) % 360 / 60;
    const c = (1 - Math.abs(2 * l - 1)) * s;
    const x = c * (1 - Math.abs(h % 2 - 1));
    const m = l - c / 2;
    const [r, g, b] = h < 1 ? [c, x, 0] : h < 2 ? [x, c, 0] : h < 3 ? [0, c, x] : h < 4 ? [0, x, c] : h < 5 ? [x, 0, c] : [c, 0, x];
    return `#${hex2((r + m) * t[0])}${hex2((g + m) * t[1])}${hex2((b + m) * t[2])}`;
  }
  function polygon(sides) {
    const points = [];
    for (let i = 0; i < sides; i++) {
      const a = i / sides * Math.PI * 2;
      points.push(Math.cos(a), Math.sin(a));
    }
    return points;
  }
  var UNIT = polygon(SIDES);
  function frame(f) {
    const hue = num(f.params["/layer/1/hue"], 0);
    const alpha = 1;
    const t = tint(f.params["/layer/1/color"]);
    const cx = f.width / 2;
    const cy = f.height / 2;
    const unit = Math.min(f.width, f.height) / 2;
    const turn = f.beat / 16 * Math.PI * 2;
    const pulse = 1 + 0.12 * (1 - f.phase) ** 3;
    const out = [];
    for (let i = 0; i < RING; i++) {
      const a = turn + i / RING * Math.PI * 2;
      const r = unit * 0.55;
      const size = unit * 0.2 * pulse;
      const spin = -turn * 2 + i;
      const cos = Math.cos(spin) * size;
      const sin = Math.sin(spin) * size;
      out.push({
        op: "polyline",
        points: UNIT,
        closed: true,
        fill: true,
        color: color(hue + i * (360 / RING), 0.85, 0.55, t),
        alpha: alpha * 0.85,
        // Rotate and scale the unit polygon, then move it onto the ring.
        transform: [cos, sin, -sin, cos, cx + Math.cos(a) * r, cy + Math.sin(a) * r]
      });
    }
    const star = [];
    const points = 10;
    for (let i = 0; i < points; i++) {
      const a = -turn + i / points * Math.PI * 2;
      const r = (i % 2 === 0 ? 0.3 : 0.12) * unit * pulse;
      star.push(cx + Math.cos(a) * r, cy + Math.sin(a) * r);
    }
    out.push({
      op: "polyline",
      points: star,
      closed: true,
      color: color(hue + 180, 0.9, 0.7, t),
      alpha,
      lineWidth: 4
    });
    out.push({
      op: "circle",
      x: cx,
      y: cy,
      r: unit * 0.75,
      fill: false,
      lineWidth: 2,
      color: color(hue + 90, 0.6, 0.6, t),
      alpha: alpha * 0.6
    });
    return out;
  }
  return __toCommonJS(index_exports);
})();
