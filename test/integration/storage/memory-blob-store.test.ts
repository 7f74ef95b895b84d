// Owns running the BlobStore contract against MemoryBlobStore.
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { describeBlobStoreContract } from '../../contracts/blob-store.contract'
import { describeGatewayStateContract } from '../../contracts/gateway-state.contract'

describeBlobStoreContract(
  'memory',
  () => Promise.resolve({ store: new MemoryBlobStore(), cleanup: () => Promise.resolve() }),
  { conditionalWrites: true },
)

describeGatewayStateContract('memory', () => Promise.resolve({ store: new MemoryBlobStore(), cleanup: () => Promise.resolve() }))
