// Prints Kafka's own encodings of a few messages (hex, one per line) so that
// tests/unit/protocol_golden_test.cpp can compare klink's codecs against a
// second implementation. Run: see ../README.md ("Golden bytes").
import java.nio.ByteBuffer;
import java.util.List;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.message.*;
import org.apache.kafka.common.protocol.Message;
import org.apache.kafka.common.protocol.MessageUtil;

public class Golden {
  static void print(String name, Message m, int version) {
    try {
      printOrThrow(name, m, version);
    } catch (RuntimeException e) {
      e.printStackTrace();
      System.exit(1);
    }
  }

  static void printOrThrow(String name, Message m, int version) {
    ByteBuffer b = MessageUtil.toByteBufferAccessor(m, (short) version).buffer();
    StringBuilder sb = new StringBuilder();
    while (b.hasRemaining()) sb.append(String.format("%02x", b.get() & 0xff));
    System.out.println(name + " " + version + " " + sb);
  }

  public static void main(String[] args) {
    for (int v : new int[] {4, 12, 15}) {
      MetadataRequestData m = new MetadataRequestData();
      m.setTopics(List.of(new MetadataRequestData.MetadataRequestTopic().setName("orders")
          .setTopicId(new Uuid(0x0102030405060708L, 0x090a0b0c0d0e0f10L))));
      if (v >= 4) m.setAllowAutoTopicCreation(false);
      print("metadata_request", m, Math.min(v, 13));
    }
    for (int v : new int[] {11, 15, 18}) {
      FetchRequestData f = new FetchRequestData().setMaxWaitMs(500).setMinBytes(1)
          .setIsolationLevel((byte) 1).setSessionId(7).setSessionEpoch(2).setRackId("r1");
      if (v >= 15) f.setReplicaState(new FetchRequestData.ReplicaState().setReplicaId(3).setReplicaEpoch(9));
      else f.setReplicaId(-1);
      FetchRequestData.FetchTopic t = new FetchRequestData.FetchTopic();
      if (v >= 13) t.setTopicId(new Uuid(1, 2)); else t.setTopic("orders");
      FetchRequestData.FetchPartition p = new FetchRequestData.FetchPartition().setPartition(5)
          .setFetchOffset(1000).setPartitionMaxBytes(1 << 20).setCurrentLeaderEpoch(4);
      if (v >= 18) p.setHighWatermark(77);
      t.setPartitions(List.of(p));
      f.setTopics(List.of(t));
      print("fetch_request", f, v);
    }
    for (int v : new int[] {4, 12, 16}) {
      FetchResponseData r = new FetchResponseData().setThrottleTimeMs(3);
      if (v >= 7) r.setSessionId(7);
      FetchResponseData.PartitionData pd = new FetchResponseData.PartitionData().setPartitionIndex(1)
          .setHighWatermark(100).setLastStableOffset(90).setLogStartOffset(0)
          .setAbortedTransactions(List.of(new FetchResponseData.AbortedTransaction().setProducerId(11).setFirstOffset(12)))
          .setRecords(org.apache.kafka.common.record.MemoryRecords.readableRecords(ByteBuffer.wrap(new byte[] {1, 2, 3, 4})));
      if (v >= 12) pd.setCurrentLeader(new FetchResponseData.LeaderIdAndEpoch().setLeaderId(2).setLeaderEpoch(5));
      FetchResponseData.FetchableTopicResponse tr = new FetchResponseData.FetchableTopicResponse().setPartitions(List.of(pd));
      if (v >= 13) tr.setTopicId(new Uuid(1, 2)); else tr.setTopic("orders");
      r.setResponses(List.of(tr));
      if (v >= 16) r.nodeEndpoints().add(new FetchResponseData.NodeEndpoint().setNodeId(2).setHost("h").setPort(9092).setRack(null));
      print("fetch_response", r, v);
    }
    for (int v : new int[] {0, 3, 4}) {
      ApiVersionsResponseData a = new ApiVersionsResponseData().setErrorCode((short) 0).setThrottleTimeMs(0);
      a.apiKeys().add(new ApiVersionsResponseData.ApiVersion().setApiKey((short) 1).setMinVersion((short) 4).setMaxVersion((short) 17));
      if (v >= 3) {
        a.setFinalizedFeaturesEpoch(5);
        a.supportedFeatures().add(new ApiVersionsResponseData.SupportedFeatureKey().setName("metadata.version").setMinVersion((short) 1).setMaxVersion((short) 27));
      }
      print("api_versions_response", a, v);
    }
    for (int v : new int[] {3, 9, 13}) {
      ProduceRequestData p = new ProduceRequestData().setAcks((short) -1).setTimeoutMs(30000);
      ProduceRequestData.TopicProduceData t = new ProduceRequestData.TopicProduceData();
      if (v >= 13) t.setTopicId(new Uuid(1, 2)); else t.setName("orders");
      t.setPartitionData(List.of(new ProduceRequestData.PartitionProduceData().setIndex(0)
          .setRecords(org.apache.kafka.common.record.MemoryRecords.readableRecords(ByteBuffer.wrap(new byte[] {9, 8, 7})))));
      p.topicData().add(t);
      print("produce_request", p, v);
    }
    for (int v : new int[] {0, 2}) {
      print("sasl_authenticate_request", new SaslAuthenticateRequestData().setAuthBytes(new byte[] {0, 'u', 0, 'p'}), v);
    }
  }
}
