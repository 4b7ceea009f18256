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
    frame: () => frame,
    setup: () => setup
  });
  var TARGET = "/layer/2/opacity";
  var PERIOD_BEATS = 8;
  var MIN_WRITE_INTERVAL_S = 0.05;
  var lastWrite = Number.NEGATIVE_INFINITY;
  var lastValue = Number.NaN;
  var wave = (beat) => 0.5 - 0.5 * Math.cos(beat / PERIOD_BEATS * Math.PI * 2);
  function setup(info) {
    hana.log(`lfo on ${info.id}: writing ${TARGET} every ${PERIOD_BEATS} beats`);
  }
  function frame(f) {
    const value = Math.round(wave(f.beat) * 1e3) / 1e3;
    if (value !== lastValue && (f.time - lastWrite >= MIN_WRITE_INTERVAL_S || f.time < lastWrite)) {
      hana.set(TARGET, value);
      lastWrite = f.time;
      lastValue = value;
    }
    return [];
  }
  return __toCommonJS(index_exports);
})();
