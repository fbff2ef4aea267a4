#include "mq/llm/offline.hpp"
#include "mq/llm/personalize.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <regex>

#include "mq/config/config.hpp"
#include "mq/core/json.hpp"
#include "offline_rules.hpp"

namespace mq::llm {
namespace {

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// Occurrences of `keyword` in folded `text` at word boundaries ('*' = prefix).
int count(const std::string& text, std::string keyword) {
  bool prefix = !keyword.empty() && keyword.back() == '*';
  if (prefix) keyword.pop_back();
  int hits = 0;
  for (auto pos = text.find(keyword); pos != std::string::npos; pos = text.find(keyword, pos + 1)) {
    if (pos > 0 && word_char(text[pos - 1]) && word_char(keyword.front())) continue;
    auto end = pos + keyword.size();
    if (!prefix && end < text.size() && word_char(text[end]) && word_char(keyword.back())) continue;
    ++hits;
  }
  return hits;
}

int count_all(const std::string& text, const std::vector<const char*>& words) {
  int n = 0;
  for (const char* w : words) n += count(text, w);
  return n;
}

/// Like count_all, but a phrase of n words weighs n: "tienda online" outweighs "tienda".
int weigh_all(const std::string& text, const std::vector<const char*>& words) {
  int n = 0;
  for (const char* w : words) {
    int hits = count(text, w);
    if (!hits) continue;
    int weight = 1;
    for (const char* p = w; *p; ++p) weight += *p == ' ';
    n += hits * weight;
  }
  return n;
}

struct pick {
  std::string value;
  int hits = 0;
};

pick choose(const std::string& text, const rules::field_rules& f) {
  pick best{f.fallback, 0};
  for (const auto& r : f.rules) {
    int hits = weigh_all(text, r.keywords);
    if (hits > best.hits) best = {r.value, hits};
  }
  return best;
}

std::string company_size(const std::string& text) {
  // An explicit head count wins: "120 empleados", "about 40 people".
  static const std::regex heads(R"((\d[\d.,]*)\s*(empleados|trabajadores|colaboradores|personas|employees|people|staff))");
  std::smatch m;
  if (std::regex_search(text, m, heads)) {
    std::string digits;
    for (char c : m[1].str())
      if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
    if (!digits.empty() && digits.size() < 9) {
      long n = std::stol(digits);
      if (n < 50) return "small";
      if (n < 250) return "medium";
      if (n < 2000) return "large";
      return "enterprise";
    }
  }
  if (count_all(text, rules::enterprise_words()) > 0) return "enterprise";
  if (count_all(text, rules::large_words()) > 0) return "large";
  if (count_all(text, rules::small_words()) > 0) return "small";
  return "medium";
}

double round2(double v) { return std::round(v * 100.0) / 100.0; }

}  // namespace

std::string fold_text(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == 0xC3 && i + 1 < in.size()) {
      unsigned char d = static_cast<unsigned char>(in[i + 1]);
      char mapped = 0;
      switch (d) {
        case 0xA1: case 0x81: case 0xA0: case 0xA4: case 0xA2: mapped = 'a'; break;
        case 0xA9: case 0x89: case 0xA8: case 0xAB: case 0xAA: mapped = 'e'; break;
        case 0xAD: case 0x8D: case 0xAC: case 0xAF: case 0xAE: mapped = 'i'; break;
        case 0xB3: case 0x93: case 0xB2: case 0xB6: case 0xB4: mapped = 'o'; break;
        case 0xBA: case 0x9A: case 0xB9: case 0xBC: case 0x9C: case 0xBB: mapped = 'u'; break;
        case 0xB1: case 0x91: mapped = 'n'; break;
        case 0xA7: case 0x87: mapped = 'c'; break;
        default: break;
      }
      if (mapped) {
        out.push_back(mapped);
        ++i;
        continue;
      }
    }
    out.push_back(static_cast<char>(std::tolower(c)));
  }
  // Typographic apostrophes as plain ones, so "don’t" matches "don't".
  std::string::size_type p;
  while ((p = out.find("\xe2\x80\x99")) != std::string::npos) out.replace(p, 3, "'");
  return out;
}

int estimate_tokens(const std::string& text) {
  return static_cast<int>(text.size() / 4 + 1);
}

std::vector<float> offline_embedding(const std::string& text, int dimensions) {
  std::vector<float> v(static_cast<std::size_t>(dimensions), 0.f);
  const std::string folded = fold_text(text);
  auto add = [&](const std::string& token, float weight) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : token) h = (h ^ c) * 1099511628211ULL;
    v[h % v.size()] += (h >> 63) ? -weight : weight;
  };
  std::string previous, word;
  auto flush = [&] {
    if (word.empty()) return;
    add(word, 1.f);
    if (!previous.empty()) add(previous + " " + word, 0.5f);
    previous = std::move(word);
    word.clear();
  };
  for (char c : folded) {
    if (word_char(c))
      word.push_back(c);
    else
      flush();
  }
  flush();
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm > 0)
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

std::string offline_classification(const meeting_facts& meeting) {
  const std::string text = fold_text(meeting.transcript);
  std::map<std::string, pick> picks;
  int evidence = 0;
  for (const auto& f : rules::enum_fields()) {
    auto p = choose(text, f);
    evidence += std::min(p.hits, 3);
    picks[f.field] = p;
  }
  const int es = count_all(text, rules::spanish_words());
  const int en = count_all(text, rules::english_words());
  const std::string language = en > es ? "en" : "es";
  if (picks["region"].hits == 0 && language == "en") picks["region"].value = "north_america";

  const int positive = count_all(text, rules::positive_words());
  const int negative = count_all(text, rules::negative_words());
  const std::string sentiment =
      positive > negative ? "positive" : (negative > positive ? "negative" : "neutral");
  const bool urgency = count_all(text, rules::urgency_words()) > 0;
  const bool bad_meeting = count_all(text, rules::bad_meeting_words()) > 0 && sentiment != "positive";

  std::string stage = "discovery";
  const int closing = count_all(text, rules::closure_words());
  const int negotiating = count_all(text, rules::negotiation_words());
  if (meeting.closed || closing >= 2) stage = "closure";
  else if (negotiating >= 2) stage = "negotiation";

  const double confidence =
      round2(std::clamp(0.3 + 0.04 * evidence + (language == "es" ? 0.0 : 0.02), 0.1, 0.95));

  const auto& sector = picks["business_sector"].value;
  const auto& use_case = picks["use_case"].value;
  const auto& pain = picks["primary_pain_point"].value;
  const auto& product = picks["vambe_product"].value;
  const std::string client = meeting.client_name.empty() ? "el cliente" : meeting.client_name;

  std::vector<std::string> topics = {rules::label(sector), rules::label(use_case), rules::label(pain)};
  if (urgency) topics.push_back("plazos de implementación");
  topics.push_back("producto " + rules::label(product));
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  if (topics.size() > 5) topics.resize(5);

  std::vector<std::string> actions;
  std::string next;
  if (stage == "closure") {
    actions = {"Enviar el contrato para firma", "Coordinar la reunión de inicio de implementación"};
    next = "Formalizar el contrato y agendar el kickoff de implementación.";
  } else if (stage == "negotiation") {
    actions = {"Enviar propuesta comercial ajustada", "Resolver las dudas sobre precios y condiciones"};
    next = "Revisar la propuesta con " + client + " y acordar condiciones.";
  } else {
    actions = {"Agendar una demostración de " + rules::label(product),
               "Levantar los requerimientos de " + rules::label(use_case)};
    next = "Agendar una demostración enfocada en " + rules::label(use_case) + ".";
  }
  if (urgency) actions.push_back("Priorizar una implementación dentro del plazo indicado");
  if (actions.size() > 3) actions.resize(3);

  std::string summary = "Reunión con " + client + " (" + rules::label(sector) + ") interesado en " +
                        rules::label(use_case) + "; su principal dolor es " + rules::label(pain) +
                        " y la oportunidad está en etapa de " + rules::label(stage) + ".";
  if (bad_meeting) summary += " El cliente terminó la reunión con dudas o insatisfecho.";

  json::writer w;
  w.begin_object();
  w.kv("business_sector", sector);
  w.kv("company_size", company_size(text));
  w.kv("region", picks["region"].value);
  w.kv("lead_source", picks["lead_source"].value);
  w.kv("vambe_product", product);
  w.kv("use_case", use_case);
  w.kv("primary_pain_point", pain);
  w.kv("urgency", urgency);
  w.kv("decision_maker_role", picks["decision_maker_role"].value);
  w.kv("purchase_stage", stage);
  w.kv("language", language);
  w.kv("lost_client_bad_meeting", bad_meeting);
  w.kv("sentiment", sentiment);
  w.kv("confidence_score", confidence);
  w.key("key_topics");
  w.begin_array();
  for (const auto& t : topics) w.value(t);
  w.end_array();
  w.key("action_items");
  w.begin_array();
  for (const auto& a : actions) w.value(a);
  w.end_array();
  w.kv("next_steps", next);
  w.kv("summary", summary);
  w.end_object();
  return w.take();
}

namespace {

class offline_client final : public llm_client {
 public:
  offline_client(std::string model, int dimensions) : model_(std::move(model)), dimensions_(dimensions) {}

  void embed(std::vector<std::string> texts, embed_callback done) override {
    embed_outcome out;
    out.model = "offline-hashing-" + std::to_string(dimensions_);
    for (const auto& t : texts) {
      out.vectors.push_back(offline_embedding(t, dimensions_));
      out.tokens += estimate_tokens(t);
    }
    done(std::move(out));
  }

  std::string provider() const override { return "offline"; }
  std::string model() const override { return model_; }
  std::size_t in_flight() const override { return 0; }

  void chat(const chat_request& req, callback done) override {
    chat_outcome out;
    const auto start = std::chrono::steady_clock::now();
    chat_response r;
    if (req.task == "classify_meeting") {
      r.content = offline_classification(facts_from_request(req));
    } else if (req.task == "personalize_message") {
      auto text = offline_personalization(req);
      if (!text) {
        out.err = text.err();
        return done(std::move(out));
      }
      r.content = std::move(*text);
    } else {
      out.err = make_error(errc::llm_bad_request, "the offline provider cannot run task " + req.task);
      return done(std::move(out));
    }
    r.finish_reason = "stop";
    r.model = model_;
    for (const auto& m : req.messages) r.tokens_in += estimate_tokens(m.content);
    r.tokens_out = estimate_tokens(r.content);
    r.latency = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    out.response = std::move(r);
    done(std::move(out));
  }

 private:
  std::string model_;
  int dimensions_;
};

}  // namespace

std::unique_ptr<llm_client> make_offline_client(const config::llm_config& cfg) {
  return std::make_unique<offline_client>("offline-rules-v1", cfg.embedding_dimensions);
}

}  // namespace mq::llm
