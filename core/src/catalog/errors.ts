import { WeftError } from '../errors.js';

/** An event the projection cannot apply; the batch is rejected as a whole and the catalog is unchanged. */
export class CatalogError extends WeftError {
  constructor(code: 'CATALOG_UNKNOWN_KIND' | 'CATALOG_UNKNOWN_INDEX' | 'CATALOG_BAD_EVENT' | 'CATALOG_OFFSET_ORDER' | 'CATALOG_BAD_SNAPSHOT', message: string) {
    super(code, message);
  }
}
