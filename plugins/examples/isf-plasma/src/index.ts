import type { DisplayList } from '../../../api/hana-plugin.d.ts';

// The picture is the ISF shader in shaders/plasma.fs, drawn by the output page in this plugin's
// layer; plugin.json maps its inputs to parameters. The code draws nothing over it.

export function frame(): DisplayList {
  return [];
}
