/**
 * The Label Studio project's labelling interface: the echo frame to outline (brush or polygon, one label),
 * with the frame's uncertainty map and score beside it so the doctor sees why it was picked, and one choice to mark
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

/** The label config XML of the project (pure: the same string every call). */
export function labelConfigXml(): string {
  const l = attr(LV_LABEL);
  return [
    '<View>',
    `  <Header value="$${DATA_FIELDS.caption}" size="5"/>`,
    '  <View style="display: flex; gap: 12px; align-items: flex-start">',
    '    <View style="flex: 3">',
    `      <Image name="${TAGS.image}" value="$${DATA_FIELDS.image}" zoom="true" zoomControl="true" brightnessControl="true" contrastControl="true"/>`,
    '    </View>',
    '    <View style="flex: 2">',
    '      <Header value="Model uncertainty (brighter = less sure)" size="6"/>',
    `      <Image name="${TAGS.uncertaintyMap}" value="$${DATA_FIELDS.uncertaintyMap}" zoom="false"/>`,
    '    </View>',
    '  </View>',
    `  <Header value="Outline the left ventricle: the orange ${l} paints with a brush, the teal ${l} draws a polygon." size="6"/>`,
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
