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
  var BEATS_PER_BAR = 4;
  function rgb(v, fallback) {
    return typeof v === "string" && /^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(v) ? v.slice(0, 7) : fallback;
  }
  function frame(f) {
    const color = rgb(f.params["/layer/2/color"], "#ffffff");
    const beatInBar = (Math.floor(f.beat) % BEATS_PER_BAR + BEATS_PER_BAR) % BEATS_PER_BAR;
    const decay = (1 - f.phase) ** 4;
    const flash = decay * (beatInBar === 0 ? 1 : 0.6);
    const out = [];
    if (flash > 2e-3) {
      out.push({ op: "rect", x: 0, y: 0, w: f.width, h: f.height, color, alpha: flash, blend: "add" });
    }
    const size = Math.min(f.width, f.height) / 24;
    const gap = size / 2;
    const left = f.width / 2 - (BEATS_PER_BAR * size + (BEATS_PER_BAR - 1) * gap) / 2;
    const top = size;
    for (let i = 0; i < BEATS_PER_BAR; i++) {
      const on = i === beatInBar;
      out.push({
        op: "rect",
        x: left + i * (size + gap),
        y: top,
        w: size,
        h: size,
        color,
        alpha: on ? 0.5 + 0.5 * decay : 0.6,
        fill: on,
        lineWidth: 2
      });
    }
    return out;
  }
  return __toCommonJS(index_exports);
})();
