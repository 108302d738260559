/** Reads an uploaded object (a JSONL or CSV file of subtasks). */
export interface ObjectReader {
  /** The object's text; throws NotFoundError when there is no such object. */
  getText(location: { bucket: string; key: string }): Promise<string>;
}
