/** The part of dcmjs (no types of its own) the DICOM SEG writer uses: Part 10 read/write and the naturalized form. */
declare module 'dcmjs' {
  /** A dataset keyed by DICOM keyword (`PatientID`), sequences as arrays of datasets. */
  type NaturalDataset = Record<string, unknown>;
  /** A dataset keyed by tag (`00100020`) with `{ vr, Value }` entries. */
  type DenaturalDataset = Record<string, { vr: string; Value?: unknown[] }>;

  class DicomDict {
    constructor(meta: DenaturalDataset);
    meta: DenaturalDataset;
    dict: DenaturalDataset;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }

  const dcmjs: {
    data: {
      DicomDict: typeof DicomDict;
      DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { meta: DenaturalDataset; dict: DenaturalDataset } };
      DicomMetaDictionary: {
        naturalizeDataset(dataset: DenaturalDataset): NaturalDataset;
        denaturalizeDataset(dataset: NaturalDataset): DenaturalDataset;
        uid(): string;
      };
    };
  };
  export default dcmjs;
}
