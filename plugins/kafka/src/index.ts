import { PLUGIN_API_VERSION, Tokens, type EventLogBackend, type Logger, type WeftPlugin } from '@weft/core';
import { DEFAULT_KAFKA_CONFIG, validateKafkaConfig, type KafkaPluginConfig } from './config.js';
import { KafkaEventLog } from './kafka-log.js';
import { parseKafkaLocation } from './location.js';

export { DEFAULT_KAFKA_CONFIG, validateKafkaConfig, type KafkaPluginConfig } from './config.js';
export { KafkaFencedError, KafkaLogTruncatedError, KafkaNotWriterError, KafkaReadOnlyError, KafkaRecordError, KafkaUnavailableError } from './errors.js';
export { KafkaEventLog, writerTransactionalId, type KafkaEventLogOptions } from './kafka-log.js';
export { parseKafkaLocation, type KafkaLocation } from './location.js';
export { DEDUPE_WINDOW, MessageIndex } from './offsets.js';

/** The `kafka:` event-log backend: `kafka://host:port[,host:port...]/topic`. */
export function createKafkaLogBackend(options: { config?: KafkaPluginConfig; logger?: Logger } = {}): EventLogBackend {
  const config = options.config ?? DEFAULT_KAFKA_CONFIG;
  return {
    scheme: 'kafka',
    open: async (location, openOptions = {}) => {
      const { brokers, topic } = parseKafkaLocation(location);
      return KafkaEventLog.open({
        brokers,
        topic,
        config,
        readOnly: openOptions.readOnly ?? false,
        keepRecords: openOptions.keepRecords ?? false,
        election: config.election,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      });
    },
  };
}

/** Registers the `kafka:` log backend; weft.yaml picks it with `log: kafka://...`. */
export const plugin: WeftPlugin<KafkaPluginConfig> = {
  name: 'kafka',
  apiVersion: PLUGIN_API_VERSION,
  validateConfig: validateKafkaConfig,
  register(container, config, context) {
    const backend = createKafkaLogBackend({ config, logger: context.logger.child({ plugin: 'kafka' }) });
    container.register<EventLogBackend>(Tokens.EventLogBackend, { useValue: backend });
  },
};

export default plugin;
