// Gap accounting of the receiving side (see sequence.h). Pure; the subscribing thread.
#include "sequence.h"

namespace tc {

SequenceTracker::Result SequenceTracker::observe(uint64_t publisher, int32_t channel,
                                                 uint64_t sequence) {
  Result r;
  bool created;
  uint64_t& last = last_.touch(PublisherChannel{publisher, channel}, &created);
  if (created) {
    r.first = true;
  } else if (sequence > last) {
    r.missed = sequence - last - 1;
  } else {
    r.reset = true;
  }
  last = sequence;
  return r;
}

}  // namespace tc
