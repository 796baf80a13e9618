import { readFileSync, writeFileSync } from "node:fs";
import pixelmatch from "pixelmatch";
import { PNG } from "pngjs";

/*
 * PNG comparison for loop evidence. pngjs decodes and encodes PNG (every bit depth, interlace)
 * and pixelmatch counts perceptually differing pixels with anti-aliasing detection; both are
 * small, maintained and dependency-free, which a hand-written decoder would not be.
 */

/** The outcome of comparing a candidate screenshot with a reference. */
export interface VisualDiffReport {
  reference: string;
  candidate: string;
  width: number;
  height: number;
  total_pixels: number;
  differing_pixels: number;
  /** Share of differing pixels, 0..1; 1 when the sizes differ. */
  score: number;
  threshold: number;
  below_threshold: boolean;
  size_mismatch: boolean;
  /** pixelmatch's per-pixel colour tolerance. */
  pixel_tolerance: number;
  diff_path: string | null;
}

function readPng(path: string, what: string): PNG {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read the ${what} ${path}: ${(e as Error).message}`);
  }
  try {
    return PNG.sync.read(buf);
  } catch (e) {
    throw new Error(`the ${what} ${path} is not a readable PNG: ${(e as Error).message}`);
  }
}

/**
 * Compares two PNGs. `threshold` is the largest share of differing pixels that still counts as a
 * match; images of different sizes never match. With `diffPath` a diff image is written (the
 * candidate's size when sizes differ, all marked).
 */
export function comparePngs(
  referencePath: string,
  candidatePath: string,
  opts: { threshold: number; diffPath?: string; pixelTolerance?: number },
): VisualDiffReport {
  if (!(opts.threshold >= 0 && opts.threshold <= 1)) throw new Error(`threshold must be between 0 and 1, got ${opts.threshold}`);
  const ref = readPng(referencePath, "reference");
  const cand = readPng(candidatePath, "candidate");
  const tolerance = opts.pixelTolerance ?? 0.1;
  const sizeMismatch = ref.width !== cand.width || ref.height !== cand.height;
  const width = cand.width;
  const height = cand.height;
  const total = width * height;
  let differing = total;
  const diff = new PNG({ width, height });
  if (!sizeMismatch) differing = pixelmatch(ref.data, cand.data, diff.data, width, height, { threshold: tolerance });
  else diff.data.fill(255);
  if (opts.diffPath) writeFileSync(opts.diffPath, PNG.sync.write(diff));
  const score = sizeMismatch ? 1 : total === 0 ? 0 : differing / total;
  return {
    reference: referencePath,
    candidate: candidatePath,
    width,
    height,
    total_pixels: total,
    differing_pixels: differing,
    score: Math.round(score * 1e6) / 1e6,
    threshold: opts.threshold,
    below_threshold: !sizeMismatch && score <= opts.threshold,
    size_mismatch: sizeMismatch,
    pixel_tolerance: tolerance,
    diff_path: opts.diffPath ?? null,
  };
}

/** Writes a solid-colour PNG with an optional rectangle of another colour (test and QA fixtures). */
export function writeTestPng(
  path: string,
  width: number,
  height: number,
  fill: [number, number, number],
  rect?: { x: number; y: number; w: number; h: number; color: [number, number, number] },
): void {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inRect = rect && x >= rect.x && x < rect.x + rect.w && y >= rect.y && y < rect.y + rect.h;
      const [r, g, b] = inRect ? rect!.color : fill;
      const i = (y * width + x) * 4;
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = 255;
    }
  }
  writeFileSync(path, PNG.sync.write(png));
}
