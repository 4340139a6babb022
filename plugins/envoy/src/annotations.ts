/**
 * Pod annotations read the way OSM reads them, so a pod annotated for OSM means the same to Weft.
 */

/** The annotation that turns on the Prometheus listener of a pod's sidecar (OSM's constants.PrometheusScrapeAnnotation). */
export const PROMETHEUS_SCRAPE_ANNOTATION = 'prometheus.io/scrape';

/**
 * A boolean spelled as Go's strconv.ParseBool accepts it (OSM parses its annotations with it): 1, t, T,
 * TRUE, true, True are true; 0, f, F, FALSE, false, False are false; anything else is not a boolean.
 */
export function parseGoBool(value: string): boolean | undefined {
  switch (value) {
    case '1':
    case 't':
    case 'T':
    case 'TRUE':
    case 'true':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'FALSE':
    case 'false':
    case 'False':
      return false;
    default:
      return undefined;
  }
}

/** Whether a pod's sidecar is scraped: OSM ignores the parse error, so anything but a true spelling is off. */
export function isPrometheusScrapeEnabled(annotations: Readonly<Record<string, string>>): boolean {
  const value = annotations[PROMETHEUS_SCRAPE_ANNOTATION];
  return value !== undefined && parseGoBool(value) === true;
}
