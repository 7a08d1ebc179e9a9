import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Live consumers written with Kafka's own Java client, for tests that describe groups while they run.
 * Usage: java -cp CLASSES:kafka-clients-libs/* ConsumerFleet BOOTSTRAP SPEC... (tests/support/kafka-java.ts
 * compiles it into CLASSES)
 * A SPEC is comma-separated key=value: group, topics (a;b), client, and optional assignor (range,
 * roundrobin, sticky, cooperative-sticky), protocol (classic|consumer), instance (group.instance.id) and
 * limit (stop fetching after committing this many records, which leaves a known lag).
 * Every consumer commits synchronously after each poll. The fleet runs until stdin closes or SIGTERM, then
 * closes every consumer (leaving its group) and exits; it prints "STARTED n" once all consumers exist.
 */
public class ConsumerFleet {
  private static final Map<String, String> ASSIGNORS = Map.of(
      "range", "org.apache.kafka.clients.consumer.RangeAssignor",
      "roundrobin", "org.apache.kafka.clients.consumer.RoundRobinAssignor",
      "sticky", "org.apache.kafka.clients.consumer.StickyAssignor",
      "cooperative-sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    AtomicBoolean running = new AtomicBoolean(true);
    List<Thread> threads = new ArrayList<>();
    CountDownLatch created = new CountDownLatch(args.length - 1);
    for (int i = 1; i < args.length; i++) {
      Map<String, String> spec = new HashMap<>();
      for (String pair : args[i].split(",")) {
        String[] kv = pair.split("=", 2);
        spec.put(kv[0], kv[1]);
      }
      Thread thread = new Thread(() -> run(bootstrap, spec, running, created), "consumer-" + i);
      thread.start();
      threads.add(thread);
    }
    created.await();
    System.out.println("STARTED " + threads.size());
    System.out.flush();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      running.set(false);
      for (Thread t : threads) {
        try {
          t.join(15_000);
        } catch (InterruptedException e) {
          return;
        }
      }
    }));
    // The parent closing stdin (or dying) ends the fleet.
    while (System.in.read() != -1) {
      // ignore input
    }
    System.exit(0);
  }

  private static void run(String bootstrap, Map<String, String> spec, AtomicBoolean running, CountDownLatch created) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ConsumerConfig.GROUP_ID_CONFIG, spec.get("group"));
    props.put(ConsumerConfig.CLIENT_ID_CONFIG, spec.get("client"));
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    String protocol = spec.getOrDefault("protocol", "classic");
    props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
    if (protocol.equals("classic")) {
      props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
          ASSIGNORS.get(spec.getOrDefault("assignor", "range")));
      props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "30000");
      props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
    }
    if (spec.containsKey("instance")) props.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, spec.get("instance"));
    long limit = Long.parseLong(spec.getOrDefault("limit", "-1"));
    // One record per poll, so a consumer with a limit commits exactly that many.
    if (limit >= 0) props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1");
    long[] consumed = {0};
    KafkaConsumer<byte[], byte[]> consumer;
    try {
      consumer = new KafkaConsumer<>(props);
    } catch (Exception e) {
      System.err.println("consumer " + spec.get("client") + " failed to start: " + e);
      created.countDown();
      return;
    }
    boolean subscribed = false;
    try {
      // A rebalance hands partitions back unpaused; a member past its limit pauses them before the next fetch,
      // or it would commit more than its limit and the group's lag would differ from run to run.
      consumer.subscribe(List.of(spec.get("topics").split(";")), new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
          if (limit >= 0 && consumed[0] >= limit) consumer.pause(partitions);
        }
      });
      subscribed = true;
      created.countDown();
      while (running.get()) {
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
        if (records.isEmpty()) continue;
        try {
          consumer.commitSync();
        } catch (KafkaException e) {
          // A rebalance refused the commit (classic: the partitions moved; KIP-848: a stale member epoch,
          // often with the partitions kept). Rewind what is still ours to the batch's first offset so it is
          // read and committed again, or the group's committed total falls short for good. Dying here
          // instead would leave the group a member short.
          System.err.println("consumer " + spec.get("client") + " commit not taken, rewinding: " + e);
          for (TopicPartition partition : records.partitions()) {
            if (consumer.assignment().contains(partition)) {
              consumer.seek(partition, records.records(partition).get(0).offset());
            }
          }
          continue;
        }
        consumed[0] += records.count();
        if (limit >= 0 && consumed[0] >= limit) consumer.pause(consumer.assignment());
      }
    } catch (Exception e) {
      System.err.println("consumer " + spec.get("client") + " failed: " + e);
      if (!subscribed) created.countDown();
    } finally {
      // Leave the group even as a static member (which by default stays until its session times out), so
      // the test can delete its groups at once and no stale group outlives its topics.
      consumer.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
    }
  }
}
