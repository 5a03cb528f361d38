/**
 * The Label Studio project's labelling interface: the echo frame to outline (brush or polygon, one label),
 * with the frame's uncertainty map below it and its score in the caption so the doctor sees why it was picked, and one choice to mark
 * a frame nobody can outline (it is replaced by another).
 * Every name that task data, predictions and annotations must agree on is a constant here.
 */

/** The one class doctors outline: the left ventricle. */
export const LV_LABEL = 'LV';

/** Names of the config's tags (`from_name` / `to_name` in results). */
export const TAGS = {
  image: 'image',
  uncertaintyMap: 'uncertainty_map',
  brush: 'lv_brush',
  polygon: 'lv_polygon',
  unusable: 'echo_unusable',
} as const;

/** The one choice of the `unusable` tag: a frame nobody can outline (off-axis, no ventricle in view, artefact). */
export const UNUSABLE_CHOICE = 'Cannot be labelled (unusable frame)';

/** Keys of a task's `data`; `$key` in the config reads them. */
export const DATA_FIELDS = {
  image: 'image',
  uncertaintyMap: 'uncertainty_map',
  caption: 'caption',
  score: 'echo_score',
  itemId: 'echo_item_id',
  group: 'echo_group',
  runId: 'echo_run_id',
  phase: 'echo_phase',
  purpose: 'echo_purpose',
} as const;

/** Orange brush, teal polygon: the hint in the config names them by colour. */
const COLOURS = { brush: '#e4572e', polygon: '#1b998b' };

function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Sizes of the two images, measured in a real Label Studio 1.23.2 + Chromium (test/labelStudio/layout.e2e.test.ts):
 * - the frame is narrower than its row by the width of the tool bar Label Studio puts beside it (48 px): Label Studio
 *   fits an image to the whole row but shrinks its canvas by the tool bar, which cut ≈ 42 px off a full-width frame;
 * - both sides are tied to the window height (60 % of it for the frame, 40 % for the map), so the frame is whole at any
 *   window size, also after the window shrinks (as wide as its row, a landscape frame ran below the window);
 * - the map sits below the frame, not beside it, so each keeps its own width.
 * Not fixable here: Label Studio does not re-fit an image shown larger than its own pixels when the window shrinks
 * (a 256 × 256 frame stays 540 × 540 on a 360 × 360 canvas after 1400 × 900 → 900 × 600; a reload re-fits it).
 */
const FRAME_SIZE = 'maxWidth="min(calc(100% - 48px), 60vh)" maxHeight="60vh"';
const MAP_SIZE = 'maxWidth="min(100%, 400px)" maxHeight="40vh"';

/** The label config XML of the project (pure: the same string every call). */
export function labelConfigXml(): string {
  const l = attr(LV_LABEL);
  return [
    '<View>',
    `  <Header value="$${DATA_FIELDS.caption}" size="5"/>`,
    `  <Image name="${TAGS.image}" value="$${DATA_FIELDS.image}" ${FRAME_SIZE} zoom="true" zoomControl="true" brightnessControl="true" contrastControl="true"/>`,
    `  <Image name="${TAGS.uncertaintyMap}" value="$${DATA_FIELDS.uncertaintyMap}" ${MAP_SIZE} zoom="false"/>`,
    // The map's legend is part of the instructions: a heading of its own would stand over nothing when a task has no
    // map (the caption says so then).
    `  <Header value="Outline the left ventricle: the orange ${l} paints with a brush, the teal ${l} draws a polygon. `
      + 'The image under the frame, when there is one, is the model\'s uncertainty map (brighter = less sure)." size="6"/>',
    `  <BrushLabels name="${TAGS.brush}" toName="${TAGS.image}">`,
    `    <Label value="${l}" background="${COLOURS.brush}"/>`,
    '  </BrushLabels>',
    `  <PolygonLabels name="${TAGS.polygon}" toName="${TAGS.image}" strokeWidth="2" pointSize="small" opacity="0.4">`,
    `    <Label value="${l}" background="${COLOURS.polygon}"/>`,
    '  </PolygonLabels>',
    `  <Choices name="${TAGS.unusable}" toName="${TAGS.image}" choice="single" showInline="true">`,
    `    <Choice value="${attr(UNUSABLE_CHOICE)}"/>`,
    '  </Choices>',
    '</View>',
  ].join('\n');
}
