/** Architecture registry: one entry per smp architecture name. */
import type { ArchName } from '../../types';
import type { ArchSpec } from './common';
import { DeepLabV3, DeepLabV3Plus } from './deeplabv3';
import { FPN } from './fpn';
import { Linknet } from './linknet';
import { MAnet } from './manet';
import { PAN } from './pan';
import { PSPNet } from './pspnet';
import { Unet } from './unet';
import { UnetPlusPlus } from './unetplusplus';

export const archRegistry: Record<ArchName, ArchSpec> = {
  Unet,
  UnetPlusPlus,
  Linknet,
  FPN,
  PSPNet,
  PAN,
  DeepLabV3,
  DeepLabV3Plus,
  MAnet,
};

export { DecoderContext, type ArchSpec } from './common';
