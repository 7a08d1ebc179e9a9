import { CreateModelCommand, DeleteModelCommand, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import { createSagemakerAdapter } from '../../adapters/sagemaker/index.js';
import { peers } from '../peers/endpoints.js';
import { adapterConformance } from '../support/adapter-conformance.js';
import { openSocketsTo } from '../support/open-sockets.js';
import { MOTO_CREDENTIALS, motoClient } from '../support/sagemaker-fixtures.js';
import { randomAccount, type SagemakerGateway, startSagemakerGateway } from '../support/sagemaker-gateway.js';
import { sagemakerConnection } from '../support/sagemaker-run.js';

const REGION = 'eu-north-1';
const PREFIX = `sdrconf${process.pid.toString(36)}`;
const MODELS = Array.from({ length: 30 }, (_, i) => `${PREFIX}-m${String(i).padStart(2, '0')}`);
const READ_ACTION = /^(List|Describe|Search|QueryLineage|GetCallerIdentity|AssumeRole)/;
const REJECTED_KEY = 'AKIASDRCONFORMANCE01';

let gateway: SagemakerGateway;
let client: SageMakerClient;

adapterConformance({
  name: 'sagemaker',
  adapter: createSagemakerAdapter,
  async setup() {
    gateway = await startSagemakerGateway(peers.motoUrl, randomAccount());
    gateway.rejectedAccessKeys.add(REJECTED_KEY);
    client = motoClient(gateway.url, REGION);
    for (const name of MODELS) {
      await client.send(
        new CreateModelCommand({
          ModelName: name,
          ExecutionRoleArn: 'arn:aws:iam::123456789012:role/sdr-conformance',
          PrimaryContainer: { Image: 'conformance:1' },
        }),
      );
    }
    gateway.calls.length = 0;
    const port = Number(new URL(gateway.url).port);
    const settings = { region: REGION, endpoint: gateway.url, maxRequestsPerSecond: 0 };
    return {
      connection: sagemakerConnection(settings, MOTO_CREDENTIALS),
      badCredentials: sagemakerConnection(settings, {
        accessKeyId: REJECTED_KEY,
        secretAccessKey: 'sdr-conformance-wrong-secret',
      }),
      badSecrets: ['sdr-conformance-wrong-secret'],
      options: { include: [`${PREFIX}*`] },
      secrets: [MOTO_CREDENTIALS.secretAccessKey],
      evidence: {
        operations: () => gateway.calls.map((call) => call.operation),
        reset: () => {
          gateway.calls.length = 0;
        },
      },
      isRead: (operation) => READ_ACTION.test(operation),
      openSessions: async () => openSocketsTo(port),
    };
  },
  async teardown() {
    for (const name of MODELS)
      await client?.send(new DeleteModelCommand({ ModelName: name })).catch(() => undefined);
    client?.destroy();
    await gateway?.close();
  },
});
