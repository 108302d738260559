import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ITEMS_PREFIX, type ItemLocation, type ItemStore } from '#shared/ports/item-store';
import type { JobRef } from '#shared/ports/job-store';

/** The object key of a job stage's items: the tenant leads, as in the table. */
export const itemsKey = (ref: JobRef, stage: number): string =>
  `${ITEMS_PREFIX}${ref.tenantId}/${ref.jobId}/stage-${stage}.json`;

/** Item lists as JSON arrays in S3 (fauxqs locally), through an injected client. */
export class S3ItemStore implements ItemStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async putItems(ref: JobRef, stage: number, items: readonly unknown[]): Promise<ItemLocation> {
    const key = itemsKey(ref, stage);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify(items),
        ContentType: 'application/json',
      }),
    );
    return { bucket: this.bucket, key };
  }
}
