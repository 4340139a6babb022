/**
 * Which replica of a shared Kafka log is its writer. Every replica joins the consumer group
 * `<topic>-writer` subscribed to the log's own topic (one partition), without fetching (the topic is
 * paused): the member the group assigns partition 0 is elected. The group only elects; what keeps a
 * replaced writer from appending is the transactional producer's epoch (kafka-log.ts), since a member can
 * be frozen past its session and not know yet that it was replaced.
 *
 * The assignment is sticky: each member says in its join metadata whether it holds the partition, and the
 * group leader's assigner keeps it there, so a replica joining (a rolling update) does not move the writer.
 */
import { AssignerProtocol, type Consumer, type Kafka, type PartitionAssigner } from 'kafkajs';
import { retry, type Logger } from '@weft/core';
import { leaderMoving } from './errors.js';

export interface ElectionOptions {
  readonly kafka: Kafka;
  readonly topic: string;
  readonly replicaId: string;
  /** The group's session timeout: how long a silent (frozen, cut off) writer keeps the role in the group. */
  readonly sessionTimeoutMs: number;
  readonly logger: Logger;
  /** Called with each change of the assignment (true: this replica holds partition 0) and the writer's name. */
  readonly onChange: (assigned: boolean, writerId: string | null) => void;
}

interface MemberData {
  readonly replica: string;
  readonly holds: boolean;
}

function memberData(buf: Buffer | null | undefined): MemberData | null {
  if (buf === null || buf === undefined || buf.length === 0) return null;
  try {
    const v = JSON.parse(buf.toString('utf8')) as Partial<MemberData>;
    return typeof v.replica === 'string' ? { replica: v.replica, holds: v.holds === true } : null;
  } catch {
    // A member of another program in the group: it carries no replica name and never holds the role.
    return null;
  }
}

const ASSIGNER_NAME = 'WeftWriterAssigner';

/** Partition 0 to the member that holds it (the first by member id if several claim), else the first member. */
function writerAssigner(self: () => MemberData): PartitionAssigner {
  return () => ({
    name: ASSIGNER_NAME,
    version: 1,
    protocol({ topics }) {
      return {
        name: ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(JSON.stringify(self())) }),
      };
    },
    assign({ members, topics }) {
      const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
      const holder =
        sorted.find((m) => memberData(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData)?.holds === true) ?? sorted[0];
      return Promise.resolve(
        sorted.map((m) => ({
          memberId: m.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment: m === holder ? Object.fromEntries(topics.map((t) => [t, [0]])) : {},
            userData: Buffer.alloc(0),
          }),
        })),
      );
    },
  });
}

export class WriterElection {
  private consumer: Consumer | null = null;
  private assigned = false;
  private heartbeats = 0;
  /** performance.now() of the last heartbeat answered or join done: when the group last counted this member. */
  private lastContact = 0;
  private heartbeatWaiters: { after: number; resolve: () => void }[] = [];
  private stopped = false;

  constructor(private readonly o: ElectionOptions) {}

  /** Successful heartbeats so far (each proves the membership was current when it was answered). */
  get beats(): number {
    return this.heartbeats;
  }

  get holds(): boolean {
    return this.assigned;
  }

  /** Resolves after `n` more heartbeats succeed from now; never when the membership is gone. */
  heartbeatsFromNow(n: number): Promise<void> {
    const after = this.heartbeats + n;
    return new Promise((resolve) => this.heartbeatWaiters.push({ after, resolve }));
  }

  async start(): Promise<void> {
    const { kafka, topic, sessionTimeoutMs } = this.o;
    const c = kafka.consumer({
      groupId: `${topic}-writer`,
      sessionTimeout: sessionTimeoutMs,
      rebalanceTimeout: sessionTimeoutMs,
      // Often enough that a rebalance (the writer gone) is seen within a second.
      heartbeatInterval: Math.min(1000, Math.floor(sessionTimeoutMs / 5)),
      maxWaitTimeInMs: 1000,
      allowAutoTopicCreation: false,
      // A member silent for a whole session (frozen, cut off) was dropped from the group, and another member
      // may hold the role since: rejoining, it must not claim the role, or the group leader could hand it
      // back (both claim; the first by member id wins) and the writer that replaced it would be moved again.
      partitionAssigners: [
        writerAssigner(() => ({ replica: this.o.replicaId, holds: this.assigned && performance.now() - this.lastContact < sessionTimeoutMs })),
      ],
      // A crash (the coordinator gone too long) restarts the consumer, which joins again.
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2000, restartOnFailure: () => Promise.resolve(!this.stopped) },
    });
    this.consumer = c;
    c.on(c.events.HEARTBEAT, () => {
      this.heartbeats++;
      this.lastContact = performance.now();
      const ready = this.heartbeatWaiters.filter((w) => w.after <= this.heartbeats);
      this.heartbeatWaiters = this.heartbeatWaiters.filter((w) => w.after > this.heartbeats);
      for (const w of ready) w.resolve();
    });
    c.on(c.events.GROUP_JOIN, (e) => {
      this.lastContact = performance.now();
      const assigned = (e.payload.memberAssignment[topic] ?? []).includes(0);
      // The topic is never read through this group: no fetch after a (re)join either.
      this.pause(c);
      void this.changed(assigned);
    });
    c.on(c.events.CRASH, (e) => {
      this.o.logger.warn('writer election: the group consumer crashed; it joins again', { error: (e.payload.error as Error).message });
      if (this.assigned) void this.changed(false);
    });
    await c.connect();
    // Right after the topic was created (the first replica creates it) the broker asked may not know it
    // yet (UNKNOWN_TOPIC_OR_PARTITION), and kafkajs does not retry a subscribe: ask again while it settles.
    await retry(() => c.subscribe({ topic, fromBeginning: false }), { retries: 8, initialRetryTime: 100, maxRetryTime: 1000, isRetriable: leaderMoving });
    await c.run({ autoCommit: false, eachBatch: () => Promise.resolve() });
    this.pause(c);
  }

  /**
   * Pauses the topic. kafkajs refuses while the consumer has no group: its first join failed and crashed it
   * (run() returns all the same), and the restart has not joined yet. Nothing to pause then: the restart's
   * join pauses (GROUP_JOIN), and the election's outcome waits for that join.
   */
  private pause(c: Consumer): void {
    try {
      c.pause([{ topic: this.o.topic }]);
    } catch (err) {
      this.o.logger.debug('writer election: no group to pause yet; the next join pauses', { error: (err as Error).message });
    }
  }

  private async changed(assigned: boolean): Promise<void> {
    this.assigned = assigned;
    let writer: string | null = assigned ? this.o.replicaId : null;
    if (!assigned && this.consumer !== null) {
      // The group's members and assignments say who holds partition 0 (for /debug and the metric only).
      try {
        const group = await this.consumer.describeGroup();
        for (const m of group.members) {
          const a = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
          if ((a?.assignment[this.o.topic] ?? []).includes(0)) {
            writer = memberData(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData)?.replica ?? null;
          }
        }
      } catch (err) {
        this.o.logger.debug('writer election: describing the group failed', { error: (err as Error).message });
      }
      if (this.assigned) return;
    }
    this.o.onChange(assigned, writer);
  }

  /** Leaves the group (a graceful stop hands the role over at once instead of after the session timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.assigned = false;
    await this.consumer?.disconnect().catch(() => undefined);
  }
}
