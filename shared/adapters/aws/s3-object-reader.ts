import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { NotFoundError } from '#shared/domain/errors';
import type { ObjectReader } from '#shared/ports/object-reader';

/** Reads uploaded objects through an injected S3 client (S3 in the cloud, fauxqs locally). */
export class S3ObjectReader implements ObjectReader {
  constructor(private readonly client: S3Client) {}

  async getText(location: { bucket: string; key: string }): Promise<string> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: location.bucket, Key: location.key }),
      );
      if (!out.Body) return '';
      return await out.Body.transformToString('utf8');
    } catch (error) {
      if (error instanceof NoSuchKey) {
        throw new NotFoundError(`s3://${location.bucket}/${location.key} not found`, { cause: error });
      }
      throw error;
    }
  }
}
