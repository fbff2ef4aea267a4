#include "seed_data.hpp"

#include <chrono>
#include <iostream>
#include <random>

#include "common.hpp"
#include "mq/core/time.hpp"
#include "mq/store/repositories.hpp"

namespace mq::cli {
namespace {

const std::vector<std::string> businesses = {
    "Somos una tienda online de ropa y despachamos a todo Chile",
    "Tenemos una clínica dental con tres sedes en Santiago",
    "Somos un colegio particular con 900 alumnos",
    "Somos una empresa de logística y transporte de carga",
    "Somos una inmobiliaria que vende departamentos en verde",
    "Somos una fintech que da créditos a pymes",
    "Tenemos una cadena de restaurantes con delivery",
    "Somos una agencia de viajes y turismo",
    "Somos una automotora con venta de autos usados",
    "Somos una universidad privada con admisión todo el año"};
const std::vector<std::string> needs = {
    "Necesitamos responder por WhatsApp las consultas de clientes de forma automática",
    "Queremos agendar citas sin que la recepcionista conteste cada mensaje",
    "Perdemos ventas porque respondemos tarde en Instagram",
    "Buscamos un asistente que califique leads antes de pasarlos a ventas",
    "Queremos integrar el chat con nuestro CRM y el e-commerce",
    "El equipo de soporte no da abasto con los reclamos",
    "Necesitamos cobrar y enviar recordatorios de pago automáticos"};
const std::vector<std::string> sources = {
    "Los conocimos por LinkedIn", "Nos recomendó un cliente de ustedes", "Los encontramos en Google",
    "Los vimos en una feria del sector", "Nos llegó un correo de su equipo comercial"};
const std::vector<std::string> moods = {
    "Nos encanta la propuesta y el precio nos parece razonable.",
    "Nos parece interesante, pero tenemos que evaluarlo con el equipo.",
    "Estamos preocupados por el costo y no nos convence la integración.",
    "La demo estuvo excelente, queremos avanzar."};
const std::vector<std::string> urgencies = {
    "Lo necesitamos implementado este mes, es urgente.", "No tenemos apuro, quizás el próximo semestre.", ""};

template <class Rng>
const std::string& pick(Rng& rng, const std::vector<std::string>& v) {
  return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
}

}  // namespace

int seed_data(store::pg_session& db, std::vector<std::string> args) {
  const auto tenant_name = take_flag(args, "--tenant", "seed");
  long meetings = 0, days = 0, seed = 0;
  try {
    meetings = std::stol(take_flag(args, "--meetings", "1000"));
    days = std::stol(take_flag(args, "--days", "365"));
    seed = std::stol(take_flag(args, "--seed", "1"));
  } catch (const std::exception&) {
    meetings = -1;
  }
  if (meetings < 1 || meetings > 10000000 || days < 1 || days > 3650) {
    return usage_error("seed-data [--tenant NAME] [--meetings 1..10000000] [--days 1..3650] [--seed S]");
  }
  std::string key;
  auto id = store::tenant_id_by_name(db, tenant_name);
  if (!id) return report(id.err());
  if (!*id) {
    auto made = store::create_tenant(db, tenant_name);
    if (!made) return report(made.err());
    *id = made->tenant_id;
    key = made->api_key;
  }
  std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
  const long clients = std::max(1L, meetings / 4);
  std::uniform_int_distribution<long> client(0, clients - 1), seller(0, 19), day(0, days - 1);
  std::bernoulli_distribution closed(0.35);
  const auto today = system_now();
  long stored = 0;
  while (stored < meetings) {
    std::vector<store::meeting_input> chunk;
    for (long i = 0; i < 2000 && stored + i < meetings; ++i) {
      store::meeting_input m;
      const long c = client(rng);
      // A client keeps its business: its sentence comes from its number.
      m.transcript = "Vendedor: Cuéntenos de su empresa. Cliente: " + businesses[c % businesses.size()] + ". " +
                     pick(rng, needs) + ". " + pick(rng, sources) + ". " + pick(rng, moods) + " " +
                     pick(rng, urgencies);
      m.client_name = "Cliente " + std::to_string(c);
      m.client_email = "cliente" + std::to_string(c) + "@example.com";
      m.seller_name = "Vendedor " + std::to_string(seller(rng));
      m.meeting_date = format_rfc3339(today - std::chrono::hours(24 * day(rng))).substr(0, 10);
      m.closed = closed(rng);
      chunk.push_back(std::move(m));
    }
    auto r = store::insert_meetings(db, **id, chunk);
    if (!r) return report(r.err());
    stored += static_cast<long>(chunk.size());
  }
  std::cout << "stored " << stored << " meetings for tenant " << tenant_name << " over " << days << " days\n";
  if (!key.empty()) std::cout << key << "\n";
  return 0;
}

}  // namespace mq::cli
